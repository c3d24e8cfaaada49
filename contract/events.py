"""Lifecycle events: what integrations consume. Every recorded outcome of a
file becomes one event on the stack's own EventBridge bus (`Names.event_bus`);
rules on that bus feed consumers such as the webhook delivery queue.

The envelope is EventBridge's (`source`, `detail-type`, `time`, `detail`);
`detail` carries the fields below for every detail type, plus the fields its
type adds. JSON Schemas for each detail type live beside this module in
`contract/event_schemas/` and are registered in the schema registry on AWS.

Guarantees (docs/events.md): at least once; `detail.eventId` is stable across
every retry and redelivery of one outcome, so consumers de-duplicate by it;
`detail.sequence` orders two events about one file (the larger is newer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Ours, not AWS's (`aws.` is reserved): rules match on it.
EVENT_SOURCE = "uploads"

FILE_UPLOADED = "File Uploaded"
FILE_PROCESSED = "File Processed"
FILE_FAILED = "File Failed"
FILE_INFECTED = "File Infected"
FILE_RELEASED = "File Released"
FILE_DELETED = "File Deleted"
DETAIL_TYPES = (FILE_UPLOADED, FILE_PROCESSED, FILE_FAILED, FILE_INFECTED, FILE_RELEASED, FILE_DELETED)

# In every event's detail.
COMMON_DETAIL_FIELDS = (
    "eventId",      # unique per outcome, stable across retries
    "fileId",
    "owner",        # the uploader's Cognito `sub`
    "key",          # the S3 object key
    "version",      # the S3 version id the outcome is about
    "size",         # bytes
    "sha256",       # hex, as the uploader declared and S3 checked
    "kind",         # the extracted kind (image, pdf, ...), null before extraction
    "status",       # the record's status after this outcome
    "occurredAt",   # ISO 8601 UTC, when the outcome was recorded
    "sequence",     # the ordering key: compare as strings, larger is newer
)

# What each detail type adds to COMMON_DETAIL_FIELDS.
TYPE_DETAIL_FIELDS = {
    FILE_UPLOADED: (),
    FILE_PROCESSED: ("summary",),   # the extracted metadata, as GET /files/{id} shows it
    FILE_FAILED: ("error",),        # {"code", "message"}
    FILE_INFECTED: ("threats",),    # the scan's threat names
    FILE_RELEASED: (),
    FILE_DELETED: (),
}

# The record's writes feed the producer through the table's stream, which
# must carry both images: an outcome is a change from the old to the new.
STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"
# Where the stack keeps the events it put, for `ops events` (the bus keeps
# nothing): a rule on the bus sends every event to this log group.
ARCHIVE_RULE_PATTERN = {"source": [EVENT_SOURCE]}


@dataclass(frozen=True)
class StreamSettings:
    """The DynamoDB stream's event source mapping, for Pulumi and the local
    emulator alike (docs/events.md). A batch that still fails after its
    retries (each split in two, to isolate a bad record) goes to the events
    DLQ as a pointer to its stream records, which the stream keeps 24 h."""

    batch_size: int = 100
    batching_window_s: int = 0
    maximum_retry_attempts: int = 10
    # Past this age a record is skipped to the DLQ: under the stream's 24 h retention.
    maximum_record_age_s: int = 6 * 3600
    bisect_on_error: bool = True
    # The events DLQ keeps a pointer as long as SQS can (14 days), though the record itself expires in 24 h.
    dlq_retention_s: int = 14 * 24 * 3600


STREAM = StreamSettings()


SCHEMA_DIR = Path(__file__).resolve().parent / "event_schemas"


def schema_name(detail_type: str) -> str:
    """`File Processed` -> `file-processed`: its schema's file stem and registry name."""
    return detail_type.lower().replace(" ", "-")


def schema(detail_type: str) -> dict:
    """The committed JSON Schema (draft 2020-12) of one detail type's events."""
    return json.loads((SCHEMA_DIR / f"{schema_name(detail_type)}.json").read_text())
