"""The event producer's logic: which outcomes a record's change stands for,
their ids and order, their schemas, and how a batch is put on the bus."""

from __future__ import annotations

import base64
import hashlib

import jsonschema
import pytest
from boto3.dynamodb.types import TypeSerializer

from contract import events
from contract.table import file_sk, user_pk
from workers.events import publish
from workers.events.outcomes import outcomes

OWNER, FILE = "owner-1", "f1"
SEQ1, SEQ2 = "00AA" + "0" * 60, "00BB" + "0" * 60
DATA = b"hello\n"


def ticket(**changes) -> dict:
    record = {"pk": user_pk(OWNER), "sk": file_sk(FILE), "ownerId": OWNER, "fileId": FILE,
              "key": f"incoming/{OWNER}/{FILE}/a.txt", "status": "pending", "size": len(DATA),
              "sha256": base64.b64encode(hashlib.sha256(DATA).digest()).decode(), "metadata": None,
              "error": None, "scan": {"status": "off"}, "updatedAt": "2026-12-05T12:00:00.000Z"}
    return {**record, **changes}


def processed(seq: str = SEQ1, version: str = "v1", **changes) -> dict:
    return ticket(**{"status": "processed", "seq": seq, "versionId": version,
                     "metadata": {"kind": "text", "lines": 1}, "updatedAt": "2026-12-05T12:00:01.000Z", **changes})


def failed(seq: str = SEQ1) -> dict:
    return ticket(status="failed", seq=seq, versionId="v1", error={"code": "corrupt", "message": "no"},
                  updatedAt="2026-12-05T12:00:01.000Z")


def told(old, new) -> list[str]:
    return [outcome.detail_type for outcome in outcomes(old, new)]


def as_delivered(outcome) -> dict:
    """The event as EventBridge delivers it to a rule's target."""
    return {"version": "0", "id": "x", "detail-type": outcome.detail_type, "source": events.EVENT_SOURCE,
            "account": "123456789012", "time": outcome.occurred_at, "region": "us-east-1", "resources": [],
            "detail": outcome.detail}


def test_an_object_recorded_processed_is_uploaded_then_processed_in_order():
    found = outcomes(ticket(), processed())
    assert [o.detail_type for o in found] == [events.FILE_UPLOADED, events.FILE_PROCESSED]
    uploaded, done = (o.detail for o in found)
    assert uploaded["sequence"] < done["sequence"] and uploaded["eventId"] != done["eventId"]
    assert done["summary"] == {"kind": "text", "lines": 1} and done["kind"] == "text"
    assert done["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert (done["fileId"], done["owner"], done["version"], done["size"]) == (FILE, OWNER, "v1", len(DATA))


def test_a_failed_file_is_told_with_its_code():
    found = outcomes(ticket(), failed())
    assert [o.detail_type for o in found] == [events.FILE_UPLOADED, events.FILE_FAILED]
    assert found[1].detail["error"] == {"code": "corrupt", "message": "no"}


def test_writes_that_record_no_new_outcome_tell_nothing():
    assert told(processed(), processed()) == []
    # The worker's attempt count, a replay's mark: not outcomes.
    assert told(processed(), processed(attempts=1)) == []
    assert told(processed(), processed(replayRequested="2026-12-05T12:00:02.000Z")) == []
    assert told(ticket(), ticket(attempts=0)) == []


def test_usage_and_ticket_items_are_not_files():
    usage = {"pk": user_pk(OWNER), "sk": "USAGE", "status": "processed", "seq": SEQ1}
    assert outcomes(None, usage) == []


def test_a_new_object_version_is_told_again_with_new_ids_and_a_larger_sequence():
    first = outcomes(ticket(), processed())
    second = outcomes(processed(), processed(seq=SEQ2, version="v2"))
    assert [o.detail_type for o in second] == [events.FILE_UPLOADED, events.FILE_PROCESSED]
    assert {o.detail["eventId"] for o in first}.isdisjoint(o.detail["eventId"] for o in second)
    assert max(o.detail["sequence"] for o in first) < min(o.detail["sequence"] for o in second)


def test_the_same_outcome_has_the_same_id_every_time_it_is_derived():
    assert [o.detail for o in outcomes(ticket(), processed())] == [o.detail for o in outcomes(ticket(), processed())]


def test_a_delete_is_told_once_and_last():
    deleted = processed(status="deleted", updatedAt="2026-12-05T12:00:05.000Z")
    found = outcomes(processed(), deleted)
    assert [o.detail_type for o in found] == [events.FILE_DELETED]
    assert found[0].detail["sequence"] > max(o.detail["sequence"] for o in outcomes(ticket(), processed()))
    assert told(deleted, {**deleted, "updatedAt": "2026-12-05T12:00:06.000Z"}) == []
    # TTL reaping the record later: the delete was already told.
    assert told(deleted, None) == []


def test_scan_results_are_told_infected_or_released():
    clean = {"status": "clean", "versionId": "v1", "scannedAt": "2026-12-05T12:00:03.000Z", "threats": []}
    infected = {**clean, "status": "infected", "threats": ["Eicar"]}
    waiting = processed(scan={"status": "pending"})
    assert told(waiting, processed(scan=clean)) == [events.FILE_RELEASED]
    found = outcomes(waiting, processed(scan=infected))
    assert [o.detail_type for o in found] == [events.FILE_INFECTED] and found[0].detail["threats"] == ["Eicar"]
    # A clean result before the object is processed: released with it, after it.
    early = ticket(scan=clean)
    assert told(ticket(scan={"status": "pending"}), early) == []
    assert told(early, processed(scan=clean)) == [events.FILE_UPLOADED, events.FILE_PROCESSED,
                                                  events.FILE_RELEASED]
    # A rescan that finds it clean again changes nothing a consumer sees.
    assert told(processed(scan=clean), processed(scan={**clean, "scannedAt": "2026-12-05T13:00:00.000Z"})) == []
    # A stack that does not scan releases unscanned: no File Released.
    assert told(ticket(), processed()) == [events.FILE_UPLOADED, events.FILE_PROCESSED]


def test_an_infected_result_before_processing_orders_before_the_processing():
    infected = {"status": "infected", "versionId": "v1", "scannedAt": "2026-12-05T12:00:03.000Z",
                "threats": ["Eicar"]}
    (early,) = outcomes(ticket(scan={"status": "pending"}), ticket(scan=infected))
    later = outcomes(ticket(scan=infected), processed(scan=infected))
    assert early.detail_type == events.FILE_INFECTED
    assert all(early.detail["sequence"] < o.detail["sequence"] for o in later)


@pytest.mark.parametrize("old, new", [
    (ticket(), processed()),
    (ticket(), failed()),
    (processed(), processed(status="deleted")),
    (processed(scan={"status": "pending"}), processed(scan={"status": "infected", "versionId": "v1",
                                                            "threats": ["Eicar"], "scannedAt": "x"})),
    (processed(scan={"status": "pending"}), processed(scan={"status": "clean", "versionId": "v1",
                                                            "threats": [], "scannedAt": "x"})),
])
def test_every_event_validates_against_its_detail_types_schema(old, new):
    found = outcomes(old, new)
    assert found
    for outcome in found:
        jsonschema.validate(as_delivered(outcome), events.schema(outcome.detail_type),
                            cls=jsonschema.Draft202012Validator)


def test_a_schema_refuses_an_event_missing_a_field():
    (_, done) = outcomes(ticket(), processed())
    broken = as_delivered(done)
    del broken["detail"]["eventId"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, events.schema(events.FILE_PROCESSED), cls=jsonschema.Draft202012Validator)


# --- Putting a batch ---------------------------------------------------------------------------------------


def stream_record(number: int, old: dict | None, new: dict | None) -> dict:
    serializer = TypeSerializer()

    def image(item):
        return {name: serializer.serialize(value) for name, value in item.items()}

    change = {"SequenceNumber": str(number), "Keys": {}}
    if old is not None:
        change["OldImage"] = image(old)
    if new is not None:
        change["NewImage"] = image(new)
    return {"eventName": "MODIFY", "dynamodb": change}


class Bus:
    """PutEvents that refuses the entries whose detail types it is told to."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.refuse = refuse
        self.calls: list[list[dict]] = []

    def put_events(self, Entries):
        self.calls.append(Entries)
        results = [{"ErrorCode": "InternalFailure"} if e["DetailType"] in self.refuse else {"EventId": "x"}
                   for e in Entries]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def files(count: int) -> list[dict]:
    return [stream_record(100 + n, ticket(fileId=f"f{n}", sk=file_sk(f"f{n}")),
                          processed(fileId=f"f{n}", sk=file_sk(f"f{n}"))) for n in range(count)]


def test_a_batch_is_put_in_order_in_calls_of_at_most_ten():
    bus = Bus()
    pending = publish.pending(files(7), "uploads-test")
    assert publish.publish(bus, pending) is None
    assert [len(call) for call in bus.calls] == [10, 4]
    put = [entry for call in bus.calls for entry in call]
    assert [(e["EventBusName"], e["Source"]) for e in put] == [("uploads-test", "uploads")] * 14
    assert [e["DetailType"] for e in put[:2]] == [events.FILE_UPLOADED, events.FILE_PROCESSED]


def test_the_first_record_with_a_refused_event_is_reported_and_nothing_after_it_is_tried():
    bus = Bus(refuse=(events.FILE_FAILED,))
    records = [*files(1), stream_record(200, ticket(), failed()), *files(12)[1:]]
    assert publish.publish(bus, publish.pending(records, "b")) == "200"
    assert len(bus.calls) == 1
