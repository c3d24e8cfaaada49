"""Per-user quotas on moto: tickets reserve, deletes and expired tickets give
back, the worker charges the real size, and every count stays exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from contract.keys import FileKey
from contract.quotas import QUOTAS, Quotas
from contract.table import CHARGED, STATUS_DELETED, TICKET_SORT_KEY_PREFIX
from tests.workers.conftest import a_worker_forked_for_each_file  # noqa: F401 - in-process moto: see there
from tests.workers.conftest import apply as apply_event
from tests.workers.s3_events import notification, s3_event
from workers.api import quota
from workers.api.limits import MULTIPART_THRESHOLD, MiB
from workers.ingest.notifications import parse_body
from workers.storage import api_records, clients, dynamo, objects, records, usage
from workers.storage.ingest_records import RecordedState

from .conftest import ALICE, BOB, BUCKET, NAMES, sha256_b64

SMALL = Quotas(max_bytes=100, max_files=3)
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# Past a single upload's reclaim time (URL expiry and grace), short of a multipart upload's.
POST_EXPIRED = timedelta(seconds=quota.UPLOAD_URL_EXPIRY_S + quota.POST_GRACE_S + 1)


@pytest.fixture
def limits(aws, monkeypatch):
    """Sets the API's quotas, as the stack's config does through its environment."""
    def apply(quotas: Quotas) -> None:
        for name, value in quotas.variables().items():
            monkeypatch.setenv(name, value)
        quota.limits.cache_clear()

    apply(SMALL)
    return apply


@pytest.fixture
def clock(monkeypatch):
    """The time tickets are issued and records written at."""
    class Clock:
        now = START

        def advance(self, by: timedelta) -> None:
            self.now += by

    clock = Clock()
    monkeypatch.setattr(dynamo, "now", lambda: clock.now)
    return clock


def ticket(caller, size: int, name: str = "notes.txt", content_type: str = "text/plain", headers=None):
    return caller("POST", "/uploads", {"filename": name, "contentType": content_type, "size": size}, headers=headers)


def issued(caller, size: int, **kwargs) -> dict:
    status, body = ticket(caller, size, **kwargs)
    assert status == 201, body
    return body


def usage_of(caller) -> dict:
    status, body = caller("GET", "/usage")
    assert status == 200
    return body


def used(caller) -> tuple[int, int]:
    body = usage_of(caller)
    return body["bytes"]["used"], body["files"]["used"]


_SEQUENCE = iter(range(1, 10_000))


def arrive(key: str, data: bytes, content_type: str = "text/plain") -> str:
    """The object lands and the worker records it; returns what the worker did."""
    put = boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)
    event = s3_event(key, sequencer=f"{next(_SEQUENCE):018X}", size=len(data), version_id=put["VersionId"])
    return apply_event(parse_body(notification(event)).events[0])


def remove(key: str) -> str:
    """The object goes some other way than the API (the console, a script)."""
    objects.delete_all_versions(boto3.client("s3"), BUCKET, key)
    event = s3_event(key, "ObjectRemoved:Delete", sequencer=f"{next(_SEQUENCE):018X}", size=0)
    return apply_event(parse_body(notification(event)).events[0])


def ticket_items(owner: str) -> list[dict]:
    return clients.table().query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": f"USER#{owner}", ":prefix": TICKET_SORT_KEY_PREFIX},
    )["Items"]


# --- Reserving ------------------------------------------------------------------


def test_tickets_up_to_the_quota_succeed_and_the_next_is_403_saying_what_is_used_and_allowed(alice, limits):
    issued(alice, 60)
    issued(alice, 40)
    status, body = ticket(alice, 1)
    assert status == 403
    assert body["error"]["code"] == "quota_exceeded"
    assert "100 bytes used of 100 allowed" in body["error"]["message"]
    assert usage_of(alice) == {"bytes": {"used": 100, "allowed": 100}, "files": {"used": 2, "allowed": 3}}


def test_the_number_of_files_is_limited_too(alice, limits):
    for _ in range(SMALL.max_files):
        issued(alice, 1)
    status, body = ticket(alice, 1)
    assert (status, body["error"]["code"]) == (403, "quota_exceeded")
    assert "3 files used of 3 allowed" in body["error"]["message"]


def test_a_ticket_bigger_than_the_whole_quota_is_403_and_reserves_nothing(alice, limits):
    issued(alice, 10)
    status, body = ticket(alice, 101)
    assert (status, body["error"]["code"]) == (403, "quota_exceeded")
    assert "10 bytes used of 100 allowed" in body["error"]["message"]
    assert used(alice) == (10, 1)


def test_a_refused_ticket_leaves_no_record(alice, limits):
    kept = issued(alice, 100)
    assert ticket(alice, 1)[0] == 403
    assert [file["fileId"] for file in alice("GET", "/files")[1]["items"]] == [kept["fileId"]]
    assert len(ticket_items(ALICE)) == 1


def test_each_user_has_a_quota_of_their_own(alice, bob, limits):
    issued(alice, 100)
    issued(bob, 100)
    assert used(alice) == used(bob) == (100, 1)


def test_a_replayed_ticket_reserves_once(alice, limits):
    key = {"Idempotency-Key": "once"}
    first, again = issued(alice, 70, headers=key), issued(alice, 70, headers=key)
    assert first == again
    assert used(alice) == (70, 1)


def test_a_new_user_uses_nothing_of_the_configured_quota(alice, aws):
    assert usage_of(alice) == {"bytes": {"used": 0, "allowed": QUOTAS.max_bytes},
                               "files": {"used": 0, "allowed": QUOTAS.max_files}}


# --- Giving back ----------------------------------------------------------------


def test_deleting_a_file_frees_its_room(alice, limits):
    first = issued(alice, 100)
    assert arrive(first["key"], b"x" * 100) == "processed"
    assert ticket(alice, 1)[0] == 403
    assert alice("DELETE", f"/files/{first['fileId']}")[0] == 204
    assert used(alice) == (0, 0)
    issued(alice, 100)


def test_aborting_an_upload_frees_its_reservation(alice, limits):
    upload = issued(alice, 100)
    assert alice("DELETE", f"/uploads/{upload['fileId']}")[0] == 204
    assert used(alice) == (0, 0)
    assert ticket_items(ALICE) == []
    issued(alice, 100)


def test_a_repeated_delete_gives_back_only_once(alice, limits):
    kept, deleted = issued(alice, 30), issued(alice, 50)
    arrive(kept["key"], b"k" * 30)
    arrive(deleted["key"], b"d" * 50)
    for _ in range(3):
        assert alice("DELETE", f"/files/{deleted['fileId']}")[0] == 204
    assert remove(deleted["key"]) == "duplicate"
    assert used(alice) == (30, 1)


def test_a_file_removed_outside_the_api_gives_its_charge_back(alice, limits):
    file = issued(alice, 100)
    arrive(file["key"], b"x" * 40)
    assert remove(file["key"]) == STATUS_DELETED
    assert used(alice) == (0, 0)


def test_a_delete_that_stopped_before_giving_back_is_finished_by_its_removal_event(alice, limits):
    file = issued(alice, 100)
    arrive(file["key"], b"x" * 40)
    item = records.get(clients.table(), ALICE, file["fileId"])
    # The API's delete died after marking the file deleted (its objects were already gone).
    objects.delete_all_versions(boto3.client("s3"), BUCKET, file["key"])
    api_records.mark_deleted(clients.table(), ALICE, file["fileId"], dynamo.now())
    assert used(alice) == (40, 1)
    event = s3_event(file["key"], "ObjectRemoved:Delete", sequencer=f"{next(_SEQUENCE):018X}", size=0)
    assert apply_event(parse_body(notification(event)).events[0]) == "duplicate"
    assert used(alice) == (0, 0)
    assert not usage.release(clients.table(), ALICE, file["fileId"], item)


# --- The worker charges what arrived ----------------------------------------------


def test_the_worker_charges_the_real_size_once_and_drops_the_ticket(alice, limits):
    file = issued(alice, 100)
    event = notification(s3_event(file["key"], sequencer="00000000000000000A", size=5))
    boto3.client("s3").put_object(Bucket=BUCKET, Key=file["key"], Body=b"hello", ContentType="text/plain")
    assert apply_event(parse_body(event).events[0]) == "processed"
    assert used(alice) == (5, 1)
    assert ticket_items(ALICE) == []
    assert apply_event(parse_body(event).events[0]) == "duplicate"
    assert used(alice) == (5, 1)
    issued(alice, 95)


def test_a_second_object_under_a_spent_ticket_is_removed_and_charges_nothing(alice, limits):
    file = issued(alice, 100)
    arrive(file["key"], b"x" * 10)
    assert arrive(file["key"], b"x" * 80) == "spent"
    assert used(alice) == (10, 1)


def test_when_the_recorded_version_is_removed_the_charge_moves_to_the_one_now_current(alice, limits):
    file = issued(alice, 100)
    arrive(file["key"], b"x" * 10)
    s3 = boto3.client("s3")
    # A second version whose own event has not been handled yet.
    s3.put_object(Bucket=BUCKET, Key=file["key"], Body=b"x" * 80)
    recorded = records.get(clients.table(), ALICE, file["fileId"])["versionId"]
    s3.delete_object(Bucket=BUCKET, Key=file["key"], VersionId=recorded)
    event = s3_event(file["key"], "ObjectRemoved:Delete", sequencer=f"{next(_SEQUENCE):018X}", version_id=recorded)
    assert apply_event(parse_body(notification(event)).events[0]) == "processed"
    assert used(alice) == (80, 1)
    assert records.get(clients.table(), ALICE, file["fileId"])[CHARGED] == 80


def test_a_failed_file_counts_the_object_it_keeps_until_deleted(alice, limits):
    file = issued(alice, 100, name="photo.png", content_type="image/png")
    assert arrive(file["key"], b"<html><script>alert(1)</script></html>", "image/png") == "failed"
    assert used(alice) == (38, 1)
    alice("DELETE", f"/files/{file['fileId']}")
    assert used(alice) == (0, 0)


def test_an_object_that_came_without_a_ticket_is_charged_once_it_arrives(alice, limits):
    key = FileKey(ALICE, "f" * 32, "script.txt").key
    assert arrive(key, b"x" * 25) == "processed"
    assert used(alice) == (25, 1)


def test_a_charge_that_moved_under_the_worker_is_written_again_from_what_it_became(alice, limits):
    file = issued(alice, 100)
    file_key = FileKey.parse(file["key"])
    stale = records.get(clients.table(), ALICE, file["fileId"])
    arrive(file["key"], b"x" * 10)
    # A newer event's write, which read the record before the one above charged it.
    written = usage.record_object_state(
        clients.table(), file_key, "F" * 64, stale,
        RecordedState.processed({"ContentLength": 70, "ContentType": "text/plain"}, metadata={}, thumbnail_key=None),
        at=dynamo.now(), scanning=False)
    assert written
    assert used(alice) == (70, 1)


def test_a_release_racing_the_worker_gives_back_what_arrived(alice, limits):
    file = issued(alice, 100)
    stale = records.get(clients.table(), ALICE, file["fileId"])
    arrive(file["key"], b"x" * 10)
    api_records.mark_deleted(clients.table(), ALICE, file["fileId"], dynamo.now())
    assert usage.release(clients.table(), ALICE, file["fileId"], stale)
    assert used(alice) == (0, 0)


# --- Expired tickets ----------------------------------------------------------------


def test_an_expired_unused_ticket_is_reclaimed_when_room_runs_out(alice, limits, clock):
    unused = issued(alice, 100)
    clock.advance(POST_EXPIRED)
    issued(alice, 60)
    assert alice("GET", f"/files/{unused['fileId']}")[0] == 404
    assert used(alice) == (60, 1)
    assert len(ticket_items(ALICE)) == 1


def test_a_ticket_is_not_reclaimed_before_its_upload_could_have_finished(alice, limits, clock):
    issued(alice, 100)
    clock.advance(POST_EXPIRED - timedelta(seconds=2))
    assert ticket(alice, 1)[0] == 403


def test_an_expired_ticket_whose_object_arrived_is_left_for_the_worker(alice, limits, clock):
    waiting = issued(alice, 100)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=waiting["key"], Body=b"x" * 100)
    clock.advance(POST_EXPIRED)
    assert ticket(alice, 1)[0] == 403
    assert alice("GET", f"/files/{waiting['fileId']}")[1]["status"] == "pending"


def test_an_unfinished_multipart_upload_is_reclaimed_and_aborted_after_a_day(alice, limits, clock):
    limits(Quotas(max_bytes=20 * MiB, max_files=3))
    upload = issued(alice, MULTIPART_THRESHOLD + 1, name="big.bin", content_type="application/octet-stream")
    clock.advance(POST_EXPIRED)
    assert ticket(alice, 5 * MiB)[0] == 403
    clock.advance(timedelta(days=1))
    issued(alice, 5 * MiB)
    assert boto3.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    part = {"partNumber": 1, "sha256": sha256_b64(b"part")}
    assert alice("POST", f"/uploads/{upload['fileId']}/parts", {"parts": [part]})[0] == 404


def test_a_ticket_whose_record_ttl_reaped_is_still_given_back(alice, limits, clock):
    unused = issued(alice, 100)
    clients.table().delete_item(Key=records.key_of(ALICE, unused["fileId"]))
    clock.advance(POST_EXPIRED)
    issued(alice, 100)
    assert used(alice) == (100, 1)
    assert len(ticket_items(ALICE)) == 1


def test_a_ticket_item_is_given_back_by_its_record_while_the_record_exists(alice, limits):
    file = issued(alice, 100)
    (item,) = ticket_items(ALICE)
    assert not usage.release_ticket(clients.table(), ALICE, dynamo.from_dynamo(item))
    assert used(alice) == (100, 1)
    assert records.get(clients.table(), ALICE, file["fileId"])["status"] != STATUS_DELETED


def test_reclaiming_leaves_other_users_tickets_alone(alice, bob, limits, clock):
    bobs = issued(bob, 100)
    issued(alice, 100)
    clock.advance(POST_EXPIRED)
    issued(alice, 100)
    assert bob("GET", f"/files/{bobs['fileId']}")[1]["status"] == "pending"
    # Read beside the API: Bob's own GET /usage would reclaim his expired ticket.
    assert usage.read(clients.table(), BOB) == usage.Usage(100, 1)


@pytest.mark.parametrize("record_reaped", [False, True], ids=["record kept", "record reaped by TTL"])
def test_a_dashboard_user_sees_an_abandoned_ticket_released_by_get_usage_and_can_upload_again(
        alice, limits, clock, record_reaped):
    abandoned = issued(alice, 100)
    if record_reaped:
        clients.table().delete_item(Key=records.key_of(ALICE, abandoned["fileId"]))
    clock.advance(POST_EXPIRED)
    # The dashboard checks a file against GET /usage and sends no ticket that does not fit.
    assert used(alice) == (0, 0)
    assert ticket_items(ALICE) == []
    issued(alice, 100)


def test_usage_is_stored_beside_the_users_files_and_in_no_index(alice, limits):
    issued(alice, 10)
    item = clients.table().get_item(Key=usage.usage_key(ALICE))["Item"]
    assert set(item) == {"pk", "sk", "bytes", "files"}
    assert item["pk"] == f"USER#{ALICE}" and NAMES.table == clients.table().name
    assert BOB not in item["pk"]


# --- What it costs ------------------------------------------------------------------


@pytest.fixture
def calls(aws):
    """The AWS calls the handlers make in this process, by service and operation."""
    made: list[str] = []

    def record(event_name: str, **_) -> None:
        made.append(event_name.split(".", 1)[1])

    for client in (clients.table().meta.client, clients.s3()):
        client.meta.events.register("before-call.*.*", record)
    return made


def test_a_ticket_costs_its_rate_count_and_one_transaction_and_the_worker_one_write_per_step(
        alice, limits, calls):
    file = issued(alice, 5)
    assert calls == ["dynamodb.UpdateItem", "dynamodb.TransactWriteItems"]
    calls.clear()
    put = boto3.client("s3").put_object(Bucket=BUCKET, Key=file["key"], Body=b"hello", ContentType="text/plain")
    event = s3_event(file["key"], sequencer=f"{next(_SEQUENCE):018X}", size=5, version_id=put["VersionId"])
    assert apply_event(parse_body(notification(event)).events[0]) == "processed"
    # The event's check, the object's head, the extraction's start (counted once it has its
    # slot, see ingest_records.ExtractionStart) and the record's write; extraction reads in its own process.
    assert calls == ["dynamodb.UpdateItem", "s3.GetObject", "dynamodb.UpdateItem", "dynamodb.TransactWriteItems"]
    calls.clear()
    alice("GET", "/usage")
    # The look for expired tickets to give back, then the usage item.
    assert calls == ["dynamodb.Query", "dynamodb.GetItem"]
