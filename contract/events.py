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
