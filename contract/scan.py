"""Malware scanning: what GuardDuty Malware Protection for S3 writes and sends,
and the `scan` state a file record holds. Shared by the Pulumi program (the
plan, its EventBridge rule, the bucket policy's tag conditions), the local
emulator (local/guardduty.py), the worker that records results and the API
that releases only clean files.

GuardDuty's values are from its user guide: "Monitoring S3 object scans in
Malware Protection for S3" (result values and the tag) and "Monitoring S3
object scans with Amazon EventBridge" (the event). Details: docs/security.md.
"""

from __future__ import annotations

# The object tag GuardDuty writes when the plan's tagging is enabled.
TAG_KEY = "GuardDutyMalwareScanStatus"
RESULT_NO_THREATS = "NO_THREATS_FOUND"
RESULT_THREATS = "THREATS_FOUND"
RESULT_UNSUPPORTED = "UNSUPPORTED"
RESULT_ACCESS_DENIED = "ACCESS_DENIED"
RESULT_FAILED = "FAILED"

# The scan result event on the default bus.
EVENT_SOURCE = "aws.guardduty"
EVENT_DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
RESOURCE_TYPE = "S3_OBJECT"
# detail.scanStatus for each result value.
SCAN_STATUS = {
    RESULT_NO_THREATS: "COMPLETED",
    RESULT_THREATS: "COMPLETED",
    RESULT_UNSUPPORTED: "SKIPPED",
    RESULT_ACCESS_DENIED: "SKIPPED",
    RESULT_FAILED: "FAILED",
}

# A record's `scan.status`. `off`: the stack does not scan, so the file was
# released unscanned, which no one may read as clean.
SCAN_OFF = "off"
SCAN_PENDING = "pending"
SCAN_CLEAN = "clean"
SCAN_INFECTED = "infected"
SCAN_UNSCANNABLE = "unscannable"
SCAN_FAILED = "failed"
SCAN_STATES = (SCAN_OFF, SCAN_PENDING, SCAN_CLEAN, SCAN_INFECTED, SCAN_UNSCANNABLE, SCAN_FAILED)
# What each result value records.
STATE_OF_RESULT = {
    RESULT_NO_THREATS: SCAN_CLEAN,
    RESULT_THREATS: SCAN_INFECTED,
    RESULT_UNSUPPORTED: SCAN_UNSCANNABLE,
    RESULT_ACCESS_DENIED: SCAN_FAILED,
    RESULT_FAILED: SCAN_FAILED,
}
# How long an infected file's bytes are kept for investigation before
# `ops purge-infected` removes them (its owner may delete it any time).
INFECTED_RETENTION_DAYS = 30
# States a file's bytes may be released in.
RELEASED_STATES = (SCAN_CLEAN, SCAN_OFF)

# Whether the stack scans: the functions read it, so that a record says `off`
# rather than `pending` forever when no plan exists, and the API knows whether
# to wait for a result.
ENV_MALWARE_SCAN = "MALWARE_SCAN"
SCAN_ON_VALUE, SCAN_OFF_VALUE = "on", "off"


# What GuardDuty may take to scan an object and put its result on the bus. Its
# documentation gives no bound; scans of objects within its quotas finish in
# seconds to minutes, and throttled ones (s3Throttled) later.
GUARDDUTY_SCAN_ALLOWANCE_S = 15 * 60


def scan_stuck_after_s(visibility_timeout_s: int, max_receive_count: int) -> int:
    """When a file still waiting for its scan is stuck: GuardDuty's allowance,
    plus every receive the ingest queue gives the result before its DLQ."""
    return GUARDDUTY_SCAN_ALLOWANCE_S + visibility_timeout_s * max_receive_count


# The sweep: an EventBridge rule on a schedule puts a "Scheduled Event" on the
# ingest queue, and the worker counts the files waiting past the bound. Its
# rate is the stuck-scan alarm's period.
SWEEP_RATE_MINUTES = 5
SWEEP_SCHEDULE = f"rate({SWEEP_RATE_MINUTES} minutes)"
SCHEDULED_SOURCE = "aws.events"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"


def initial_state(scanning: bool) -> str:
    return SCAN_PENDING if scanning else SCAN_OFF


def result_event_pattern(bucket: str) -> dict:
    """The EventBridge rule's pattern: scan results for objects of this bucket."""
    return {
        "source": [EVENT_SOURCE],
        "detail-type": [EVENT_DETAIL_TYPE],
        "detail": {"s3ObjectDetails": {"bucketName": [bucket]}},
    }
