"""GuardDuty's scan results on the ingest queue: recorded against the object
version they were made for, with the same ordering and idempotency rules as
S3's events, and an infected file's thumbnail removed."""

from datetime import timedelta

import pytest

from contract.ingest import INGEST
from contract.metrics import SCANS_FAILED, SCANS_STUCK
from contract.scan import scan_stuck_after_s
from local.cloudwatch import emf
from tests.extractors import files
from tests.workers.conftest import put, record, ticketed
from tests.workers.s3_events import (
    notification,
    s3_event,
    s3_test_event_body,
    scan_result,
    scheduled_event,
    sqs_event,
)
from workers.ingest import handler as ingest
from workers.ingest.notifications import files_of
from workers.storage import clients, objects, records
from workers.storage.dynamo import iso, now

KEY = "incoming/alice/f1/report.txt"
IMAGE_KEY = "incoming/alice/f2/photo.png"


def run(context, *bodies) -> list[str]:
    """Deliver `bodies` as one batch, after an S3 test event (so that no batch
    fails whole); the bodies of the messages reported failed."""
    event = sqs_event(s3_test_event_body(), *bodies)
    response = ingest.handler(event, context)
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    return [record["body"] for record in event["Records"] if record["messageId"] in failed]


def uploaded(context, key: str = KEY, body: bytes = b"hello", content_type: str = "text/plain") -> str:
    """A ticketed upload the worker has recorded; its version id."""
    ticketed(key, size=len(body))
    version = put(key, body, content_type)["VersionId"]
    assert not run(context, notification(s3_event(key, version_id=version, size=len(body))))
    return version


def scan(owner: str = "alice", file_id: str = "f1") -> dict:
    return records.scan_of(record(owner, file_id))


def test_a_ticketed_file_waits_for_its_scan(aws, context):
    uploaded(context)
    item = record("alice", "f1")
    assert item["status"] == "processed"
    assert scan() == {"status": "pending", "threats": []}


def test_a_clean_result_marks_the_file_clean(aws, context):
    version = uploaded(context)
    assert not run(context, scan_result(KEY, version))
    assert scan() == {"status": "clean", "threats": []}


@pytest.mark.parametrize(("result", "state"), [
    ("THREATS_FOUND", "infected"), ("UNSUPPORTED", "unscannable"), ("ACCESS_DENIED", "failed"), ("FAILED", "failed"),
])
def test_each_result_value_records_its_state(aws, context, result, state):
    version = uploaded(context)
    assert not run(context, scan_result(KEY, version, result,
                                        threats=["Eicar-Test-Signature"] if state == "infected" else None))
    assert scan()["status"] == state


def test_an_infected_file_records_its_threats_and_keeps_its_bytes(aws, context):
    version = uploaded(context)
    assert not run(context, scan_result(KEY, version, "THREATS_FOUND", threats=["Eicar-Test-Signature"]))
    assert scan() == {"status": "infected", "threats": ["Eicar-Test-Signature"]}
    assert objects.head(clients.s3(), clients.bucket_name(), KEY, version) is not None


def test_a_result_before_extraction_ends_in_the_same_record_as_after(aws, context):
    ticketed(KEY, size=5)
    version = put(KEY)["VersionId"]
    assert not run(context, scan_result(KEY, version, "THREATS_FOUND", threats=["Eicar-Test-Signature"]))
    assert record("alice", "f1")["status"] == "pending"
    assert not run(context, notification(s3_event(KEY, version_id=version)))
    before = record("alice", "f1")

    after_key = "incoming/alice/f3/report.txt"
    ticketed(after_key, size=5)
    after_version = put(after_key)["VersionId"]
    assert not run(context, notification(s3_event(after_key, version_id=after_version)))
    assert not run(context, scan_result(after_key, after_version, "THREATS_FOUND", threats=["Eicar-Test-Signature"]))
    after = record("alice", "f3")

    assert records.scan_of(before) == records.scan_of(after) == {"status": "infected",
                                                                 "threats": ["Eicar-Test-Signature"]}
    assert (before["status"], before["metadata"]) == (after["status"], after["metadata"])


def test_a_duplicate_result_changes_nothing(aws, context):
    version = uploaded(context)
    body = scan_result(KEY, version)
    assert not run(context, body)
    first = record("alice", "f1")
    assert not run(context, body)
    assert record("alice", "f1") == first


def test_an_older_result_changes_nothing(aws, context):
    version = uploaded(context)
    assert not run(context, scan_result(KEY, version, "THREATS_FOUND", threats=["Eicar-Test-Signature"],
                                        event_time="2026-11-21T10:05:00Z"))
    infected = record("alice", "f1")
    assert not run(context, scan_result(KEY, version, event_time="2026-11-21T10:01:00Z"))
    assert record("alice", "f1") == infected


def test_a_result_for_a_stale_version_changes_nothing(aws, context):
    version = uploaded(context)
    stale = put(KEY, b"other")["VersionId"]
    assert stale != version
    before = record("alice", "f1")
    assert not run(context, scan_result(KEY, stale))
    assert record("alice", "f1") == before
    assert scan()["status"] == "pending"


def test_a_result_for_a_version_the_file_never_became_leaves_it_pending(aws, context):
    ticketed(KEY, size=5)
    other = put(KEY, b"xxxxx")["VersionId"]
    version = put(KEY)["VersionId"]
    assert not run(context, scan_result(KEY, other))
    assert not run(context, notification(s3_event(KEY, version_id=version)))
    assert record("alice", "f1")["versionId"] == version
    assert scan()["status"] == "pending"


def test_a_result_after_delete_changes_nothing(aws, context):
    version = uploaded(context)
    objects.delete_all_versions(clients.s3(), clients.bucket_name(), KEY)
    assert not run(context, notification(s3_event(KEY, "ObjectRemoved:Delete", sequencer="0055AED6DCD90281F0")))
    deleted = record("alice", "f1")
    assert deleted["status"] == "deleted"
    assert not run(context, scan_result(KEY, version))
    assert record("alice", "f1") == deleted


def test_a_result_for_a_file_without_a_record_is_retried(aws, context):
    version = put(KEY)["VersionId"]
    assert run(context, scan_result(KEY, version))
    assert not run(context, notification(s3_event(KEY, version_id=version)))
    assert not run(context, scan_result(KEY, version))
    assert scan()["status"] == "clean"


def test_an_infected_image_loses_its_thumbnail(aws, context):
    version = uploaded(context, IMAGE_KEY, files.image(), "image/png")
    thumbnail = record("alice", "f2")["thumbnailKey"]
    assert thumbnail
    assert not run(context, scan_result(IMAGE_KEY, version, "THREATS_FOUND", threats=["Eicar-Test-Signature"]))
    assert "thumbnailKey" not in record("alice", "f2")
    assert not objects.exists(clients.s3(), clients.bucket_name(), thumbnail)


def test_an_image_found_infected_before_extraction_never_keeps_a_thumbnail(aws, context):
    body = files.image()
    ticketed(IMAGE_KEY, size=len(body))
    version = put(IMAGE_KEY, body, "image/png")["VersionId"]
    assert not run(context, scan_result(IMAGE_KEY, version, "THREATS_FOUND", threats=["Eicar-Test-Signature"]))
    assert not run(context, notification(s3_event(IMAGE_KEY, version_id=version, size=len(body))))
    item = record("alice", "f2")
    assert item["status"] == "processed"
    assert "thumbnailKey" not in item
    listed = clients.s3().list_object_versions(Bucket=clients.bucket_name(), Prefix="thumbnails/alice/f2/")
    assert not listed.get("Versions")


def test_an_object_put_outside_the_api_without_scanning_says_off(aws, context, monkeypatch):
    from contract.scan import ENV_MALWARE_SCAN, SCAN_OFF_VALUE

    monkeypatch.setenv(ENV_MALWARE_SCAN, SCAN_OFF_VALUE)
    version = put(KEY)["VersionId"]
    assert not run(context, notification(s3_event(KEY, version_id=version)))
    assert scan() == {"status": "off", "threats": []}


def test_a_scan_result_and_the_files_s3_event_share_a_chain():
    version = "v1"
    assert files_of({"body": scan_result(KEY, version)}) == files_of({"body": notification(s3_event(KEY))}) == [
        ("alice", "f1")]


def test_a_result_value_guardduty_does_not_send_is_refused(aws, context):
    assert run(context, scan_result(KEY, "v1").replace("NO_THREATS_FOUND", "MAYBE"))


def scans_failed(capsys) -> float:
    """ScansFailed the worker emitted since the last call, summed as CloudWatch would."""
    return sum(sum(s.values) for line in capsys.readouterr().out.splitlines() for s in emf.samples(line)
               if s.name == SCANS_FAILED)


@pytest.mark.parametrize("result", ["FAILED", "ACCESS_DENIED"])
def test_a_failed_scan_is_counted_once_however_often_it_is_delivered(aws, context, capsys, result):
    version = uploaded(context)
    capsys.readouterr()
    duplicate = scan_result(KEY, version, result)
    assert not run(context, duplicate)
    assert not run(context, duplicate)
    assert scans_failed(capsys) == 1
    assert scan()["status"] == "failed"


@pytest.mark.parametrize("result", ["UNSUPPORTED", "NO_THREATS_FOUND", "THREATS_FOUND"])
def test_a_scan_that_gave_an_answer_is_not_counted_as_failed(aws, context, capsys, result):
    version = uploaded(context)
    capsys.readouterr()
    assert not run(context, scan_result(KEY, version, result,
                                        threats=["Eicar-Test-Signature"] if result == "THREATS_FOUND" else None))
    assert scans_failed(capsys) == 0


def scans_stuck(capsys) -> list[float]:
    """Each ScansStuck the worker emitted since the last call."""
    return [value for line in capsys.readouterr().out.splitlines() for s in emf.samples(line)
            if s.name == SCANS_STUCK for value in s.values]


def test_the_sweep_counts_uploaded_files_waiting_past_the_bound_and_zero_once_scanned(aws, context, capsys):
    version = uploaded(context)
    ticketed("incoming/alice/never/x.txt", size=5)
    bound = timedelta(seconds=scan_stuck_after_s(INGEST.visibility_timeout_s, INGEST.max_receive_count))
    capsys.readouterr()
    assert not run(context, scheduled_event(iso(now() + bound - timedelta(seconds=30))))
    assert scans_stuck(capsys) == [0]
    past_the_bound = scheduled_event(iso(now() + bound + timedelta(seconds=30)))
    assert not run(context, past_the_bound)
    # The ticket nobody used waits in the index too, and is not counted.
    assert scans_stuck(capsys) == [1]
    assert not run(context, scan_result(KEY, version))
    assert not run(context, past_the_bound)
    assert scans_stuck(capsys) == [0]
