"""S3 event notifications, GuardDuty's scan results and the scan sweep's
schedule, as they arrive in an SQS message body: Powertools' event source data
classes, checked when they are made.

The data classes only wrap the JSON; the checks here are the parser's old
job, done by hand because Powertools' pydantic parser cost every cold start
about 45 ms and gave nothing the worker uses but these few checks. Strict
about what we rely on and lenient about the rest, because real S3 and the
local emulator differ in optional fields (moto sends no `sequencer`,
`versionId` or `requestParameters`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes.common import DictWrapper
from aws_lambda_powertools.utilities.data_classes.event_bridge_event import EventBridgeEvent
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

from contract.keys import FileKey
from contract.scan import (
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    SCHEDULED_DETAIL_TYPE,
    SCHEDULED_SOURCE,
    STATE_OF_RESULT,
)

# Sequencers are hex strings of varying length; AWS says to right-pad the shorter
# one with zeros and compare as strings. A fixed width does that for all of them.
_ORDER_WIDTH = 64


class UnexpectedBody(ValueError):
    """A body that is none of the messages the queue carries, or lacks what
    the worker relies on."""


def _at(data: Any, *path: str, kind: type = str, optional: bool = False) -> Any:
    """The value at `path` in `data`, which must be a `kind` (None too when
    `optional`); JSON's booleans are not integers."""
    value = data
    for name in path:
        if not isinstance(value, dict):
            raise UnexpectedBody(f"{'.'.join(path)}: missing")
        value = value.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UnexpectedBody(f"{'.'.join(path)}: expected {kind}, got {type(value).__name__}")
    return value


def _time(data: dict, *path: str) -> datetime:
    value = _at(data, *path)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UnexpectedBody(f"{'.'.join(path)}: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise UnexpectedBody(f"{'.'.join(path)}: a time without its zone: {value!r}")
    return parsed


def _exactly(data: dict, path: str, expected: str) -> None:
    if _at(data, path) != expected:
        raise UnexpectedBody(f"{path}: not {expected!r}")


class TestEvent(DictWrapper):
    """What S3 sends once when a notification configuration is saved."""

    def __init__(self, data: dict) -> None:
        _exactly(data, "Event", "s3:TestEvent")
        super().__init__(data)


class ScanSweep(EventBridgeEvent):
    """The scan sweep's schedule firing: EventBridge's "Scheduled Event",
    whole, as its rule delivers it to SQS."""

    def __init__(self, data: dict) -> None:
        _exactly(data, "source", SCHEDULED_SOURCE)
        _exactly(data, "detail-type", SCHEDULED_DETAIL_TYPE)
        self.at = _time(data, "time")
        super().__init__(data)


class S3Event(S3EventRecord):
    """One S3 record of a notification."""

    def __init__(self, data: dict) -> None:
        _at(data, "eventName")
        self.at = _time(data, "eventTime")
        _at(data, "s3", "bucket", "name")
        _at(data, "s3", "object", "key")
        _at(data, "s3", "object", "size", kind=int, optional=True)
        for name in ("eTag", "versionId", "sequencer"):
            _at(data, "s3", "object", name, optional=True)
        super().__init__(data)

    @property
    def key(self) -> str:
        return unquote_plus(self.s3.get_object.key)

    @property
    def bucket(self) -> str:
        return self.s3.bucket.name

    @property
    def version_id(self) -> str | None:
        return self.s3.get_object.version_id

    @property
    def is_created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")

    @property
    def is_removed(self) -> bool:
        return self.event_name.startswith("ObjectRemoved:")

    @property
    def removed_version(self) -> str | None:
        """The version this event removed for good, if it names one. A delete
        marker's event names the marker's own version, and removes nothing
        (S3's supported event types: https://docs.aws.amazon.com/AmazonS3/latest/
        userguide/notification-how-to-event-types-and-destinations.html)."""
        return self.version_id if self.event_name == "ObjectRemoved:Delete" else None

    @property
    def order(self) -> str:
        """A string that sorts the events of one key in the order S3 applied them.

        Fallback without a sequencer (the local emulator): the event time in
        microseconds, as fixed-width hex. Two writes to one key within the same
        millisecond then count as the same version; keys carry a server-made file
        id, so rewrites of one key only happen outside the API.
        """
        sequencer = self.s3.get_object.get("sequencer")
        if sequencer:
            return sequencer.upper().ljust(_ORDER_WIDTH, "0")
        micros = int(self.at.timestamp() * 1_000_000)
        return f"{micros:016X}".ljust(_ORDER_WIDTH, "0")


class Notification(DictWrapper):
    """An S3 event notification: one or more S3 records."""

    def __init__(self, data: dict) -> None:
        records = _at(data, "Records", kind=list)
        if not records:
            raise UnexpectedBody("Records: empty")
        self.events = [S3Event(_at(record, kind=dict)) for record in records]
        super().__init__(data)


class ScanResult(EventBridgeEvent):
    """GuardDuty's scan result event, as an EventBridge rule delivers it to SQS
    (the whole event is the body). Its shape: "Monitoring S3 object scans with
    Amazon EventBridge" in the GuardDuty user guide."""

    def __init__(self, data: dict) -> None:
        _at(data, "id")
        _exactly(data, "source", EVENT_SOURCE)
        _exactly(data, "detail-type", EVENT_DETAIL_TYPE)
        self.at = _time(data, "time")
        for name in ("bucketName", "objectKey"):
            _at(data, "detail", "s3ObjectDetails", name)
        for name in ("eTag", "versionId"):
            _at(data, "detail", "s3ObjectDetails", name, optional=True)
        if _at(data, "detail", "scanResultDetails", "scanResultStatus") not in STATE_OF_RESULT:
            raise UnexpectedBody("detail.scanResultDetails.scanResultStatus: not a result GuardDuty sends")
        for threat in _at(data, "detail", "scanResultDetails", "threats", kind=list, optional=True) or []:
            _at(threat, "name")
        super().__init__(data)

    @property
    def key(self) -> str:
        return self.detail["s3ObjectDetails"]["objectKey"]

    @property
    def bucket(self) -> str:
        return self.detail["s3ObjectDetails"]["bucketName"]

    @property
    def version_id(self) -> str | None:
        return self.detail["s3ObjectDetails"].get("versionId")

    @property
    def result(self) -> str:
        """GuardDuty's result value (`scanResultStatus`)."""
        return self.detail["scanResultDetails"]["scanResultStatus"]

    @property
    def state(self) -> str:
        return STATE_OF_RESULT[self.result]

    @property
    def threats(self) -> list[str]:
        return [threat["name"] for threat in self.detail["scanResultDetails"].get("threats") or []]


Body = Notification | ScanResult | ScanSweep | TestEvent


def parse_body(body: str) -> Body:
    """Parse one SQS body. Raises UnexpectedBody (or the JSON decoder's error)
    for anything else, which the caller must let fail so the message reaches
    the DLQ as evidence."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise UnexpectedBody(f"a JSON {type(data).__name__}, not an object")
    refusals = []
    for kind in (Notification, ScanResult, ScanSweep, TestEvent):
        try:
            return kind(data)
        except UnexpectedBody as refused:
            refusals.append(f"not {kind.__name__} ({refused})")
    raise UnexpectedBody("; ".join(refusals))


def files_of(record: dict) -> list[tuple[str, str] | str]:
    """The files an SQS message's S3 records (or its scan result) are about, as
    (owner, file id), or the key itself outside the layout; none when the body
    does not parse."""
    try:
        body = parse_body(record["body"])
    except Exception:
        return []
    if isinstance(body, TestEvent | ScanSweep):
        return []
    keys = [body.key] if isinstance(body, ScanResult) else [event.key for event in body.events]
    return [(file_key.owner_id, file_key.file_id) if (file_key := FileKey.parse(key)) else key for key in keys]
