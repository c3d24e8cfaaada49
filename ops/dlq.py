"""Look at and redrive the ingest dead-letter queue.

Redrive moves messages back to the source queue by receive, send, delete: the
send happens before the delete, so a crash in between can only duplicate a
message, and the worker's writes are idempotent. (SQS's StartMessageMoveTask
does the same server-side, but the local emulator lacks it, and one code path
for both is worth more than the shortcut.)
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from ops.outputs import Stack

# Long enough to read a page, short enough that peeked messages soon return.
_PEEK_VISIBILITY_S = 30


def describe(message: dict) -> dict:
    """What on-call wants to see of one dead message."""
    attributes = message.get("Attributes", {})
    sent = int(attributes.get("SentTimestamp", "0")) / 1000
    summary: dict = {
        "messageId": message["MessageId"],
        "receiveCount": int(attributes.get("ApproximateReceiveCount", "0")),
        "sentAt": datetime.fromtimestamp(sent, timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        body = json.loads(message["Body"])
        summary["events"] = [
            {"eventName": r.get("eventName"), "key": r.get("s3", {}).get("object", {}).get("key")}
            for r in body.get("Records", [])
        ] if isinstance(body, dict) else []
        if not summary["events"]:
            summary["body"] = message["Body"][:500]
    except (ValueError, AttributeError):
        summary["body"] = message["Body"][:500]
    return summary


def _receive(sqs, url: str, limit: int, visibility: int) -> list[dict]:
    messages: list[dict] = []
    while len(messages) < limit:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(messages)),
                                    VisibilityTimeout=visibility, AttributeNames=["All"],
                                    MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    return messages


def peek(stack: Stack, limit: int = 10) -> list[dict]:
    """Show up to `limit` dead messages, then make them visible again at once."""
    sqs, url = stack.client("sqs"), stack.outputs.dead_letter_queue_url
    messages = _receive(sqs, url, limit, _PEEK_VISIBILITY_S)
    for message in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [describe(m) for m in messages]


def redrive(stack: Stack, limit: int | None = None) -> int:
    """Move dead messages back to the ingest queue; returns how many moved."""
    sqs, dlq, source = stack.client("sqs"), stack.outputs.dead_letter_queue_url, stack.outputs.queue_url
    moved = 0
    while limit is None or moved < limit:
        batch = _receive(sqs, dlq, min(10, (limit - moved) if limit else 10), _PEEK_VISIBILITY_S)
        if not batch:
            break
        for message in batch:
            sqs.send_message(QueueUrl=source, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
