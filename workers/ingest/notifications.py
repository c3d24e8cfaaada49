"""S3 event notifications and GuardDuty's scan results, as they arrive in an
SQS message body.

Parsing is strict about what we rely on and lenient about the rest, because
real S3 and the local emulator differ in optional fields (moto sends no
`sequencer`, `versionId` or `requestParameters`).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import BaseModel, Field, parse

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


class TestEvent(BaseModel):
    """What S3 sends once when a notification configuration is saved."""

    Event: str = Field(pattern=r"^s3:TestEvent$")


class ScanSweep(BaseModel):
    """The scan sweep's schedule firing: EventBridge's "Scheduled Event",
    whole, as its rule delivers it to SQS."""

    source: str = Field(pattern=f"^{SCHEDULED_SOURCE}$")
    detail_type: str = Field(alias="detail-type", pattern=f"^{SCHEDULED_DETAIL_TYPE}$")
    time: datetime


class _Bucket(BaseModel):
    name: str


class _Object(BaseModel):
    key: str
    size: int | None = None
    eTag: str | None = None
    versionId: str | None = None
    sequencer: str | None = None


class _S3(BaseModel):
    bucket: _Bucket
    object: _Object


class S3Event(BaseModel):
    eventName: str
    eventTime: datetime
    s3: _S3

    @property
    def key(self) -> str:
        return unquote_plus(self.s3.object.key)

    @property
    def is_created(self) -> bool:
        return self.eventName.startswith("ObjectCreated:")

    @property
    def is_removed(self) -> bool:
        return self.eventName.startswith("ObjectRemoved:")

    @property
    def removed_version(self) -> str | None:
        """The version this event removed for good, if it names one. A delete
        marker's event names the marker's own version, and removes nothing
        (S3's supported event types: https://docs.aws.amazon.com/AmazonS3/latest/
        userguide/notification-how-to-event-types-and-destinations.html)."""
        return self.s3.object.versionId if self.eventName == "ObjectRemoved:Delete" else None

    @property
    def order(self) -> str:
        """A string that sorts the events of one key in the order S3 applied them.

        Fallback without a sequencer (the local emulator): the event time in
        microseconds, as fixed-width hex. Two writes to one key within the same
        millisecond then count as the same version; keys carry a server-made file
        id, so rewrites of one key only happen outside the API.
        """
        sequencer = self.s3.object.sequencer
        if sequencer:
            return sequencer.upper().ljust(_ORDER_WIDTH, "0")
        micros = int(self.eventTime.timestamp() * 1_000_000)
        return f"{micros:016X}".ljust(_ORDER_WIDTH, "0")


class Notification(BaseModel):
    Records: list[S3Event] = Field(min_length=1)


class _ScannedObject(BaseModel):
    bucketName: str
    objectKey: str
    eTag: str | None = None
    versionId: str | None = None


class _Threat(BaseModel):
    name: str


class _ScanResultDetails(BaseModel):
    scanResultStatus: str = Field(pattern="^(" + "|".join(STATE_OF_RESULT) + ")$")
    threats: list[_Threat] | None = None


class _ScanDetail(BaseModel):
    s3ObjectDetails: _ScannedObject
    scanResultDetails: _ScanResultDetails


class ScanResult(BaseModel):
    """GuardDuty's scan result event, as an EventBridge rule delivers it to SQS
    (the whole event is the body). Its shape: "Monitoring S3 object scans with
    Amazon EventBridge" in the GuardDuty user guide."""

    id: str
    source: str = Field(pattern=f"^{EVENT_SOURCE}$")
    detail_type: str = Field(alias="detail-type", pattern=f"^{EVENT_DETAIL_TYPE}$")
    time: datetime
    detail: _ScanDetail

    @property
    def key(self) -> str:
        return self.detail.s3ObjectDetails.objectKey

    @property
    def version_id(self) -> str | None:
        return self.detail.s3ObjectDetails.versionId

    @property
    def result(self) -> str:
        """GuardDuty's result value (`scanResultStatus`)."""
        return self.detail.scanResultDetails.scanResultStatus

    @property
    def state(self) -> str:
        return STATE_OF_RESULT[self.result]

    @property
    def threats(self) -> list[str]:
        return [threat.name for threat in self.detail.scanResultDetails.threats or []]


# One object, built once: the parser caches its validator by the model's id, and
# `Notification | TestEvent` written in the call would be a new object every time.
_BODY = Notification | ScanResult | ScanSweep | TestEvent


def parse_body(body: str) -> Notification | ScanResult | ScanSweep | TestEvent:
    """Parse one SQS body. Raises a validation error for anything else, which
    the caller must let fail so the message reaches the DLQ as evidence."""
    return parse(event=body, model=_BODY)


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
    keys = [body.key] if isinstance(body, ScanResult) else [event.key for event in body.Records]
    return [(file_key.owner_id, file_key.file_id) if (file_key := FileKey.parse(key)) else key for key in keys]
