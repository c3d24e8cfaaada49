import json
import sys
import time
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from contract.keys import THUMBNAIL_PREFIX
from contract.table import ATTENTION_INDEX_PARTITION_KEY, LIST_INDEX_PARTITION_KEY, REPLAY_REQUESTED, TTL_ATTRIBUTE
from tests.workers.conftest import apply, put, record, ticketed
from tests.workers.s3_events import notification, s3_event, s3_test_event_body, sqs_event
from workers.ingest import file_events
from workers.ingest import handler as ingest
from workers.ingest.file_events import MIN_EXTRACT_S
from workers.ingest.notifications import S3Event, parse_body
from workers.storage import clients
from workers.storage.dynamo import iso

KEY = "incoming/alice/f1/report.txt"


def run(context, *bodies):
    event = sqs_event(*bodies)
    return event, ingest.handler(event, context)


def delete(key: str) -> None:
    """Remove every version, as a user's delete through the API does."""
    from workers.storage import objects

    objects.delete_all_versions(clients.s3(), clients.bucket_name(), key)


def failed_ids(response) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def test_test_event_is_acknowledged(aws, context):
    _, response = run(context, s3_test_event_body())
    assert response == {"batchItemFailures": []}


def test_created_object_becomes_a_processed_record(aws, context):
    put(KEY, b"hello", "text/plain")
    run(context, notification(s3_event(KEY)))
    item = record("alice", "f1")
    assert item["status"] == "processed"
    assert item["size"] == 5
    assert item["contentType"] == "text/plain"
    assert item["filename"] == "report.txt"
    assert item["error"] is None
    assert item[LIST_INDEX_PARTITION_KEY] == "USER#alice"
    assert ATTENTION_INDEX_PARTITION_KEY not in item


@pytest.mark.parametrize(
    "filename",
    ["with space.txt", "plus+sign.txt", "percent%2Bliteral.txt", "ünïcødé 文件.csv", "a&b=c?.txt"],
)
def test_url_encoded_keys_are_decoded(aws, context, filename):
    key = f"incoming/alice/f1/{filename}"
    put(key)
    run(context, notification(s3_event(key)))
    assert record("alice", "f1")["filename"] == filename


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"), min_size=1, max_size=40))
def test_any_filename_round_trips_through_s3_encoding(filename):
    parsed = parse_body(notification(s3_event(f"incoming/o/f/{filename}")))
    assert parsed.events[0].key == f"incoming/o/f/{filename}"


def test_moto_style_event_without_sequencer_and_with_encoded_slashes(aws, context):
    put(KEY)
    body = notification(s3_event(KEY, sequencer=None)).replace("incoming/alice/f1/", "incoming%2Falice%2Ff1%2F")
    run(context, body)
    assert record("alice", "f1")["status"] == "processed"


def test_duplicate_delivery_does_not_rewrite_record(aws, context):
    put(KEY)
    body = notification(s3_event(KEY))
    run(context, body)
    first = record("alice", "f1")
    assert apply(parse_body(body).events[0]) == "duplicate"
    run(context, body)
    assert record("alice", "f1") == first


def test_older_event_cannot_overwrite_newer_state(aws, context):
    put(KEY)
    delete(KEY)
    newer_delete = s3_event(KEY, "ObjectRemoved:Delete", sequencer="0055AED6DCD90281F0")
    older_create = s3_event(KEY, sequencer="0055AED6DCD90281E5")
    run(context, notification(newer_delete))
    run(context, notification(older_create))
    assert record("alice", "f1")["status"] == "deleted"


def test_sequencers_of_different_lengths_compare_right_padded(aws, context):
    put(KEY)
    # "0A1" is newer than "0A" once both are right-padded: 0A1 > 0A0.
    run(context, notification(s3_event(KEY, sequencer="0A1")))
    assert apply(parse_body(notification(s3_event(KEY, sequencer="0A"))).events[0]) == "duplicate"


def test_a_newer_created_event_updates_the_record(aws, context):
    put(KEY, b"hello")
    run(context, notification(s3_event(KEY, sequencer="01")))
    put(KEY, b"hello, again")
    run(context, notification(s3_event(KEY, sequencer="02")))
    assert record("alice", "f1")["size"] == len(b"hello, again")


def test_removed_object_marks_record_deleted_and_leaves_indexes(aws, context):
    put(KEY)
    run(context, notification(s3_event(KEY, sequencer="01")))
    delete(KEY)
    run(context, notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer="02")))
    item = record("alice", "f1")
    assert item["status"] == "deleted"
    assert LIST_INDEX_PARTITION_KEY not in item
    assert item[TTL_ATTRIBUTE] > 0


def test_missing_object_is_failed_and_acknowledged(aws, context):
    _, response = run(context, notification(s3_event(KEY)))
    assert response == {"batchItemFailures": []}
    item = record("alice", "f1")
    assert item["status"] == "failed"
    assert item["error"]["code"] == "object_missing"
    assert item[ATTENTION_INDEX_PARTITION_KEY] == "STATUS#failed"


def test_object_over_the_size_limit_is_failed_too_large(aws, context, monkeypatch):
    monkeypatch.setattr(file_events, "MAX_FILE_SIZE", 4)
    put(KEY, b"hello")
    run(context, notification(s3_event(KEY)))
    assert record("alice", "f1")["error"]["code"] == "too_large"


def test_keys_outside_the_layout_are_ignored(aws, context):
    for key in ("incoming/loose-file.txt", "thumbnails/alice/f1.webp", "incoming/alice//x"):
        put(key)
        _, response = run(context, notification(s3_event(key)))
        assert response == {"batchItemFailures": []}


def test_unparseable_body_is_reported_failed(aws, context):
    put(KEY)
    event, response = run(context, "not json at all", notification(s3_event(KEY)))
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    assert record("alice", "f1")["status"] == "processed"


def test_a_body_that_is_json_but_not_a_notification_is_reported_failed(aws, context):
    event, response = run(context, json.dumps({"Records": []}), json.dumps({"hello": 1}), s3_test_event_body())
    assert failed_ids(response) == {r["messageId"] for r in event["Records"][:2]}


def test_throttled_dynamodb_call_fails_only_that_record(aws, context, on_aws_call):
    throttled_key = "incoming/bob/f2/slow.txt"
    put(KEY)
    put(throttled_key)

    def throttle(params, **_):
        if "USER#bob" in str(params):
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}},
                "UpdateItem",
            )

    on_aws_call("before-call.dynamodb.UpdateItem", throttle)
    event, response = run(context, notification(s3_event(KEY)), notification(s3_event(throttled_key)))
    assert failed_ids(response) == {event["Records"][1]["messageId"]}
    assert record("alice", "f1")["status"] == "processed"
    assert record("bob", "f2") is None


def test_a_batch_where_only_some_records_fail(aws, context):
    keys = [f"incoming/alice/f{i}/doc.txt" for i in range(5)]
    for key in keys[::2]:
        put(key)
    event, response = run(context, "{broken", *(notification(s3_event(k)) for k in keys), "[]")
    records_ = event["Records"]
    assert failed_ids(response) == {records_[0]["messageId"], records_[-1]["messageId"]}
    statuses = [record("alice", f"f{i}")["status"] for i in range(5)]
    assert statuses == ["processed", "failed", "processed", "failed", "processed"]


def test_one_message_with_several_records(aws, context):
    keys = ["incoming/alice/a/1.txt", "incoming/alice/b/2.txt"]
    for key in keys:
        put(key)
    run(context, notification(*(s3_event(k) for k in keys)))
    assert record("alice", "a")["status"] == record("alice", "b")["status"] == "processed"


def test_logs_carry_the_file_id_and_metrics_count_failures_by_code(aws, context, capsys, monkeypatch):
    # The logger bound its stream at import; point it at this test's captured stdout.
    monkeypatch.setattr(ingest.logger.registered_handler, "stream", sys.stdout)
    run(context, notification(s3_event(KEY)))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    logs = [line for line in lines if line.get("message") == "Recorded file"]
    assert logs and logs[0]["correlation_id"] == "f1"
    emf = [line for line in lines if "_aws" in line]
    by_code = [m for m in emf if m.get("code") == "object_missing"]
    assert by_code and by_code[0]["FilesFailed"] == [1.0]
    assert by_code[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "stack", "code"]]
    assert by_code[0]["stack"] == "test"
    assert any("IngestLagMs" in m and m.get("FilesFailed") == [1.0] for m in emf)


def test_ingest_lag_is_emitted_only_for_an_event_that_can_be_its_objects(aws, context, capsys, monkeypatch):
    monkeypatch.setattr(ingest.logger.registered_handler, "stream", sys.stdout)
    put(KEY, b"a,b\n1,2\n", "text/csv")
    # The canned event's time is days before the object existed (as the bench's were).
    run(context, notification(s3_event(KEY)))
    stale = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert stale and not any("IngestLagMs" in m for m in stale)
    put(KEY, b"a,b\n3,4\n", "text/csv")
    now = datetime.now(UTC)
    run(context, notification(s3_event(KEY, sequencer="0055AED6DCD90281F0", event_time=iso(now))))
    fresh = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    lags = [m["IngestLagMs"] for m in fresh if "IngestLagMs" in m]
    assert lags and 0 <= lags[0][0] < 60_000


@pytest.mark.parametrize("event_s, modified_s, written_s, expected", [
    (10.0, 9.0, 12.5, 2500.0),
    (9.5, 10.0, 12.0, 2500.0),   # LastModified is truncated to whole seconds
    (0.0, 1_100_000.0, 1_100_002.0, None),  # 13 days before the object existed
    (20.0, None, 10.0, None),  # after its own record
    (10.0, None, 10.5, 500.0),
])
def test_a_lag_that_cannot_be_right_is_not_a_lag(event_s, modified_s, written_s, expected):
    at = lambda s: datetime.fromtimestamp(1_800_000_000 + s, UTC)  # noqa: E731
    assert file_events.lag_ms(at(event_s), None if modified_s is None else at(modified_s), at(written_s)) == expected


def test_reads_of_a_processed_file_are_reported_as_metrics(aws, context, capsys, monkeypatch):
    monkeypatch.setattr(ingest.logger.registered_handler, "stream", sys.stdout)
    put(KEY, b"a,b\n1,2\n", "text/csv")
    run(context, notification(s3_event(KEY)))
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("BytesFetched") == [8.0] and m.get("RangeRequests") == [1.0] for m in emf)


def png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_gets_a_thumbnail_that_is_deleted_with_the_file(aws, context):
    key = "incoming/alice/img/photo.png"
    put(key, png_bytes(), "image/png")
    run(context, notification(s3_event(key, sequencer="01")))
    item = record("alice", "img")
    assert item["metadata"]["kind"] == "image" and item["metadata"]["width"] == 640
    thumbnail = item["thumbnailKey"]
    assert thumbnail.startswith(THUMBNAIL_PREFIX)
    assert clients.s3().head_object(Bucket=clients.bucket_name(), Key=thumbnail)["ContentType"] == "image/webp"

    delete(key)
    run(context, notification(s3_event(key, "ObjectRemoved:Delete", sequencer="02")))
    with pytest.raises(ClientError):
        clients.s3().head_object(Bucket=clients.bucket_name(), Key=thumbnail)


def test_html_disguised_as_png_is_failed_as_a_type_mismatch(aws, context):
    key = "incoming/alice/evil/cat.png"
    put(key, b"<!doctype html><html><script>alert(1)</script></html>", "image/png")
    _, response = run(context, notification(s3_event(key)))
    assert response == {"batchItemFailures": []}
    item = record("alice", "evil")
    assert item["status"] == "failed" and item["error"]["code"] == "type_mismatch"
    assert item["thumbnailKey"] is None


def test_an_arriving_object_clears_its_tickets_expiry(aws, context):
    ticketed(KEY, 5, upload={"method": "POST"})
    assert record("alice", "f1")[TTL_ATTRIBUTE] > 0
    put(KEY)
    run(context, notification(s3_event(KEY)))
    item = record("alice", "f1")
    assert item["status"] == "processed" and TTL_ATTRIBUTE not in item


def test_a_create_and_a_delete_in_the_same_millisecond_end_deleted(aws, context):
    put(KEY)
    run(context, notification(s3_event(KEY, sequencer=None)))
    delete(KEY)
    run(context, notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer=None)))
    assert record("alice", "f1")["status"] == "deleted"


def test_a_duplicate_removal_changes_nothing(aws, context):
    put(KEY)
    run(context, notification(s3_event(KEY, sequencer="01")))
    removal = notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer="02"))
    delete(KEY)
    run(context, removal)
    first = record("alice", "f1")
    run(context, removal)
    assert record("alice", "f1") == first


def test_an_object_arriving_after_its_file_was_deleted_is_discarded(aws, context):
    put(KEY)
    run(context, notification(s3_event(KEY, sequencer="01")))
    delete(KEY)
    run(context, notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer="02")))
    put(KEY, b"late bytes from a still-valid presigned POST")
    run(context, notification(s3_event(KEY, sequencer="03")))
    assert record("alice", "f1")["status"] == "deleted"
    versions = clients.s3().list_object_versions(Bucket=clients.bucket_name(), Prefix=KEY)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")


def test_a_record_is_retried_when_the_invocation_has_too_little_time_left(aws, context):
    put(KEY)
    # A quarter goes to the reserve, leaving less than the minimum to extract.
    context._deadline = time.time() + MIN_EXTRACT_S
    event, response = run(context, notification(s3_event(KEY)), s3_test_event_body())
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    assert record("alice", "f1") is None


def test_log_keys_of_one_file_do_not_tag_the_next_record(aws, context, capsys, monkeypatch):
    monkeypatch.setattr(ingest.logger.registered_handler, "stream", sys.stdout)
    put(KEY)
    run(context, notification(s3_event(KEY)), s3_test_event_body())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    test_event_log = next(line for line in lines if line.get("message") == "Acknowledged S3 test event")
    assert "fileId" not in test_event_log and test_event_log.get("correlation_id") is None


def test_removing_an_older_version_leaves_the_file(aws, context):
    first = put(KEY, b"v1")
    put(KEY, b"v2")
    run(context, notification(s3_event(KEY, sequencer="01")))
    clients.s3().delete_object(Bucket=clients.bucket_name(), Key=KEY, VersionId=first["VersionId"])
    run(context, notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer="02", version_id=first["VersionId"])))
    assert record("alice", "f1")["status"] == "processed"


def test_an_older_create_arriving_late_does_not_overwrite_a_newer_one(aws, context):
    put(KEY, b"the newest bytes")
    newer, older = s3_event(KEY, sequencer="0055AED6DCD90281F0"), s3_event(KEY, sequencer="0055AED6DCD90281E5")
    run(context, notification(newer))
    first = record("alice", "f1")
    assert apply(parse_body(notification(older)).events[0]) == "duplicate"
    # Past the early check too: the conditional write itself refuses it.
    from contract.keys import FileKey
    from workers.storage import dynamo, usage
    from workers.storage.ingest_records import RecordedState

    applied = usage.record_object_state(
        clients.table(), FileKey.parse(KEY), parse_body(notification(older)).events[0].order, first,
        RecordedState.failed("corrupt", "stale"), at=dynamo.now(), scanning=True,
    )
    assert applied is False
    assert record("alice", "f1") == first


def test_removing_the_recorded_version_describes_the_one_now_current(aws, context):
    put(KEY, b"version one")
    second = put(KEY, b"version two, longer")
    run(context, notification(s3_event(KEY, sequencer="01")))
    assert record("alice", "f1")["versionId"] == second["VersionId"]
    clients.s3().delete_object(Bucket=clients.bucket_name(), Key=KEY, VersionId=second["VersionId"])
    run(context, notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer="02", version_id=second["VersionId"])))
    item = record("alice", "f1")
    assert item["status"] == "processed" and item["size"] == len(b"version one")
    assert item["versionId"] != second["VersionId"]


def _versions(key: str = KEY) -> list[str]:
    listed = clients.s3().list_object_versions(Bucket=clients.bucket_name(), Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", [])]


def test_a_second_object_under_a_spent_ticket_is_removed_and_the_file_stays_as_recorded(aws, context):
    ticketed(KEY)
    first = put(KEY, b"the upload")
    run(context, notification(s3_event(KEY, sequencer="01", version_id=first["VersionId"])))
    recorded = record("alice", "f1")
    assert recorded["status"] == "processed" and recorded["versionId"] == first["VersionId"]

    second = put(KEY, b"other bytes, sent with the same presigned request")
    event = parse_body(notification(s3_event(KEY, sequencer="02", version_id=second["VersionId"])))
    assert apply(event.events[0]) == "spent"
    assert record("alice", "f1") == recorded
    assert _versions() == [first["VersionId"]]
    # The removal's own event leaves the file as recorded.
    run(context, notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer="03", version_id=second["VersionId"])))
    assert record("alice", "f1")["status"] == "processed"


def test_the_recorded_version_delivered_again_is_a_duplicate_and_stays(aws, context):
    ticketed(KEY)
    first = put(KEY, b"the upload")
    body = notification(s3_event(KEY, sequencer="01", version_id=first["VersionId"]))
    run(context, body)
    assert apply(parse_body(body).events[0]) == "duplicate"
    assert _versions() == [first["VersionId"]]


def test_a_replayed_copy_is_examined_although_the_ticket_is_spent(aws, context):
    from workers.storage import ingest_records

    ticketed(KEY)
    first = put(KEY, b"the upload")
    run(context, notification(s3_event(KEY, sequencer="01", version_id=first["VersionId"])))
    assert ingest_records.request_replay(clients.table(), "alice", "f1")
    copy = put(KEY, b"the upload")
    run(context, notification(s3_event(KEY, sequencer="02", version_id=copy["VersionId"])))
    item = record("alice", "f1")
    assert item["status"] == "processed" and item["versionId"] == copy["VersionId"]
    assert REPLAY_REQUESTED not in item
    # And with the replay recorded, the ticket is spent again.
    third = put(KEY, b"a third upload")
    event = parse_body(notification(s3_event(KEY, sequencer="03", version_id=third["VersionId"])))
    assert apply(event.events[0]) == "spent"


@pytest.mark.parametrize("recorded_first", ["older", "newer"])
def test_only_the_recorded_version_remains_whatever_order_the_uploads_events_arrive_in(aws, context,
                                                                                       recorded_first):
    ticketed(KEY)
    older = put(KEY, b"the upload")
    newer = put(KEY, b"the same presigned request, sent again")
    events = {"older": s3_event(KEY, sequencer="01", version_id=older["VersionId"]),
              "newer": s3_event(KEY, sequencer="02", version_id=newer["VersionId"])}
    later = "newer" if recorded_first == "older" else "older"
    run(context, notification(events[recorded_first]))
    recorded = record("alice", "f1")
    run(context, notification(events[later]))
    assert record("alice", "f1") == recorded
    assert recorded["status"] == "processed"
    assert _versions() == [recorded["versionId"]]


@pytest.mark.parametrize("removal_first", [True, False])
def test_removing_a_version_that_is_not_the_recorded_one_leaves_the_file_as_recorded(aws, context, removal_first):
    ticketed(KEY)
    first = put(KEY, b"the upload")
    run(context, notification(s3_event(KEY, sequencer="01", version_id=first["VersionId"])))
    recorded = record("alice", "f1")
    second = put(KEY, b"a second upload")
    third = put(KEY, b"a third upload, now current")
    clients.s3().delete_object(Bucket=clients.bucket_name(), Key=KEY, VersionId=second["VersionId"])
    removal = notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer="04", version_id=second["VersionId"]))
    third_created = notification(s3_event(KEY, sequencer="03", version_id=third["VersionId"]))
    for body in ((removal, third_created) if removal_first else (third_created, removal)):
        run(context, body)
    assert record("alice", "f1") == recorded
    assert _versions() == [first["VersionId"]]


def test_an_object_bigger_than_its_upload_declared_is_failed_too_large_removed_and_not_counted(aws, context):
    from datetime import timedelta

    from workers.storage import dynamo, usage

    table = clients.table()
    ticketed(KEY, 5)
    assert usage.read(table, "alice") == usage.Usage(bytes=5, files=1)
    bigger = put(KEY, b"more than the five bytes declared")
    _, response = run(context, notification(s3_event(KEY, sequencer="01", version_id=bigger["VersionId"])))
    assert response == {"batchItemFailures": []}
    item = record("alice", "f1")
    assert item["status"] == "failed" and item["error"]["code"] == "too_large"
    assert "5 bytes" in item["error"]["message"]
    assert _versions() == []
    assert usage.read(table, "alice") == usage.Usage(bytes=0, files=1)
    assert usage.expired_tickets(table, "alice", dynamo.now() + timedelta(days=1), 10) == []


@pytest.mark.parametrize("recorded_meanwhile", ["older", "newer"])
def test_only_the_recorded_version_remains_when_the_uploads_events_are_handled_at_the_same_time(
        aws, context, monkeypatch, recorded_meanwhile):
    from workers.extraction import isolated

    ticketed(KEY)
    older = put(KEY, b"the upload")
    newer = put(KEY, b"the same presigned request, sent again")
    events = {"older": s3_event(KEY, sequencer="01", version_id=older["VersionId"]),
              "newer": s3_event(KEY, sequencer="02", version_id=newer["VersionId"])}
    extract, meanwhile = isolated.extract, [events[recorded_meanwhile]]

    def extract_while_the_other_is_recorded(*args, **kwargs):
        # Both events were checked before either was recorded, as in two invocations at once.
        extraction = extract(*args, **kwargs)
        while meanwhile:
            apply(S3Event(meanwhile.pop()))
        return extraction

    monkeypatch.setattr(isolated, "extract", extract_while_the_other_is_recorded)
    other = "newer" if recorded_meanwhile == "older" else "older"
    apply(S3Event(events[other]))
    recorded = record("alice", "f1")
    assert recorded["status"] == "processed"
    assert recorded["versionId"] == (older if recorded_meanwhile == "older" else newer)["VersionId"]
    assert _versions() == [recorded["versionId"]]
