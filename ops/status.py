"""One screen of what on-call needs first: the queues, the alarms that fire,
and the files that failed recently, are stuck pending, or are quarantined."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from contract.ingest import INGEST
from contract.scan import scan_stuck_after_s
from contract.table import STATUS_PENDING
from ops import alarms, attention
from ops.dlq import depth
from ops.outputs import Stack

STUCK_AFTER = timedelta(minutes=15)
# A file whose malware scan result has not come back by then (contract/scan.py).
SCAN_STUCK_AFTER = timedelta(seconds=scan_stuck_after_s(INGEST.visibility_timeout_s, INGEST.max_receive_count))
FAILED_WINDOW = timedelta(hours=1)
# How many stuck and quarantined files are listed by name; the counts are whole.
SHOWN = 10
# How many pending files, most recent first, status checks for their object.
CHECKED = 50


def status(stack: Stack, stuck_after: timedelta = STUCK_AFTER, shown: int = SHOWN,
           scan_stuck_after: timedelta = SCAN_STUCK_AFTER) -> dict:
    """Stuck files are pending ones whose object is in the bucket: a ticket
    nobody used stays pending until TTL reaps it, and needs no one."""
    sqs = stack.client("sqs")
    failed = attention.failed(stack, None, since=FAILED_WINDOW)
    pending = attention.files(stack, STATUS_PENDING, None, older_than=stuck_after)
    # A HEAD per file, so only the most recent: a fresh incident shows among them.
    checked = attention.stuck(stack, stuck_after, CHECKED)
    stuck = [item for item in checked if item["uploaded"]]
    quarantined = attention.quarantined(stack, None)
    scan_stuck = attention.scan_stuck(stack, scan_stuck_after, None)
    alarms = firing_alarms(stack)
    report = {
        "queue": {**depth(sqs, stack.outputs.queue_url), "oldestAgeSeconds": oldest_message_age(stack)},
        "deadLetterQueue": depth(sqs, stack.outputs.dead_letter_queue_url),
        "failedLastHour": dict(Counter((item.get("error") or {}).get("code", "unknown") for item in failed)
                               .most_common()),
        "stuckAfterMinutes": int(stuck_after.total_seconds() // 60),
        "stuck": {"count": len(stuck), "files": [_brief(item) for item in stuck[:shown]],
                  "pending": len(pending), "checked": len(checked),
                  "neverUploaded": sum(not item["uploaded"] for item in checked)},
        "quarantined": {"count": len(quarantined), "files": [_brief(item) for item in quarantined[:shown]]},
        "scanStuckAfterMinutes": int(scan_stuck_after.total_seconds() // 60),
        "scanStuck": {"count": len(scan_stuck), "files": [_brief(item) for item in scan_stuck[:shown]]},
        "alarms": alarms,
    }
    report["needsAttention"] = needs_attention(report)
    return report


def needs_attention(report: dict) -> list[str]:
    """Why on-call should look, in words; empty when all is well. Failed files
    alone are not a reason: a corrupt upload failing is the system working."""
    reasons = []
    if report["alarms"]:
        reasons.append(f"{len(report['alarms'])} alarm(s) in ALARM")
    dead = report["deadLetterQueue"]
    if dead["visible"] + dead["inFlight"]:
        reasons.append(f"{dead['visible'] + dead['inFlight']} message(s) in the DLQ")
    if report["stuck"]["count"]:
        reasons.append(f"{report['stuck']['count']} uploaded file(s) pending for over "
                       f"{report['stuckAfterMinutes']} min")
    if report["quarantined"]["count"]:
        reasons.append(f"{report['quarantined']['count']} quarantined file(s)")
    if report["scanStuck"]["count"]:
        reasons.append(f"{report['scanStuck']['count']} file(s) waiting for their malware scan for over "
                       f"{report['scanStuckAfterMinutes']} min (`ops rescan`)")
    return reasons


def oldest_message_age(stack: Stack) -> int | None:
    """The ingest queue's ApproximateAgeOfOldestMessage over the last five
    minutes. SQS publishes it to CloudWatch only; receiving a message to date
    it would count towards its receives. None where there is no such metric
    (the local emulator publishes none)."""
    queue_name = stack.outputs.queue_url.rstrip("/").rsplit("/", 1)[-1]
    end = datetime.now(UTC)
    points = stack.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        StartTime=end - timedelta(minutes=5), EndTime=end, Period=60, Statistics=["Maximum"],
    )["Datapoints"]
    if not points:
        return None
    return int(max(points, key=lambda p: p["Timestamp"])["Maximum"])


def firing_alarms(stack: Stack) -> list[dict]:
    return [{key: alarm[key] for key in ("name", "since", "reason", "runbook")}
            for alarm in alarms.alarms(stack, "ALARM")]


def _brief(item: dict) -> dict:
    return {
        "ownerId": item.get("ownerId"),
        "fileId": item.get("fileId"),
        "key": item.get("key"),
        "updatedAt": item.get("updatedAt"),
        "error": item.get("error"),
    }
