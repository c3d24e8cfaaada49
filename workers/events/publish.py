"""Stream records in, their outcomes' events put on the bus, in stream order.

PutEvents takes at most 10 entries and 256 KB per call and may refuse some
entries of a call (FailedEntryCount) while putting the others
(https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html).
So events go in order, in calls that fit, and the first record any of whose
events was refused is reported: Lambda takes the lowest reported sequence
number as the checkpoint and retries from that record on
(https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html).
Events of the retried records that were put already are put again with the
same `eventId`, which is what at-least-once promises consumers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from contract.events import EVENT_SOURCE
from workers.events.outcomes import Outcome, outcomes
from workers.storage.dynamo import deserialize

MAX_ENTRIES = 10
# PutEvents' limit is 256 KB per call, counted over each entry's fields; this leaves room for the rest.
MAX_CALL_BYTES = 200 * 1024


@dataclass(frozen=True)
class Pending:
    """One event to put, and the stream record it came from."""

    record_id: str  # the stream record's SequenceNumber: what batchItemFailures names
    entry: dict[str, Any]


def entry(outcome: Outcome, bus: str) -> dict[str, Any]:
    return {
        "Source": EVENT_SOURCE,
        "DetailType": outcome.detail_type,
        "Detail": json.dumps(outcome.detail, separators=(",", ":"), sort_keys=True),
        "EventBusName": bus,
        "Time": outcome.occurred_at,
    }


def pending(records: Iterable[dict[str, Any]], bus: str) -> list[Pending]:
    """Every event the records stand for, in stream order."""
    found = []
    for record in records:
        change = record["dynamodb"]
        old, new = change.get("OldImage"), change.get("NewImage")
        for outcome in outcomes(old and deserialize(old), new and deserialize(new)):
            found.append(Pending(change["SequenceNumber"], entry(outcome, bus)))
    return found


def _calls(events: list[Pending]) -> Iterator[list[Pending]]:
    call: list[Pending] = []
    size = 0
    for event in events:
        event_size = len(json.dumps(event.entry))
        if call and (len(call) == MAX_ENTRIES or size + event_size > MAX_CALL_BYTES):
            yield call
            call, size = [], 0
        call.append(event)
        size += event_size
    if call:
        yield call


def publish(client, events: list[Pending]) -> str | None:
    """Put `events` in order; the record id of the first event refused, or
    None when every one was put. Nothing after a refusal is tried: it is
    retried with the record."""
    for call in _calls(events):
        response = client.put_events(Entries=[event.entry for event in call])
        if response.get("FailedEntryCount"):
            for event, result in zip(call, response["Entries"], strict=True):
                if "ErrorCode" in result:
                    return event.record_id
    return None
