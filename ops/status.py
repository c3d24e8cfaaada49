"""One screen of what on-call needs first: queue depths, dead letters, and the
files that are failed or stuck pending."""

from __future__ import annotations

from datetime import timedelta

from contract.table import STATUS_FAILED, STATUS_PENDING
from ops import attention
from ops.outputs import Stack

STUCK_AFTER = timedelta(minutes=15)


def _depth(sqs, url: str) -> dict:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "inFlight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def status(stack: Stack, limit: int = 10) -> dict:
    sqs = stack.client("sqs")
    failed = attention.files(stack, STATUS_FAILED, limit)
    stuck = attention.files(stack, STATUS_PENDING, limit, older_than=STUCK_AFTER)
    return {
        "queue": _depth(sqs, stack.outputs.queue_url),
        "deadLetterQueue": _depth(sqs, stack.outputs.dead_letter_queue_url),
        "recentFailures": [_brief(item) for item in failed],
        "stuckPending": [_brief(item) for item in stuck],
    }


def _brief(item: dict) -> dict:
    return {
        "ownerId": item.get("ownerId"),
        "fileId": item.get("fileId"),
        "key": item.get("key"),
        "updatedAt": item.get("updatedAt"),
        "error": item.get("error"),
    }
