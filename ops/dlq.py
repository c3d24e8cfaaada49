"""Look at, redrive and purge the ingest dead-letter queue.

Redrive prefers SQS's own message-move task (what the console's "Start DLQ
redrive" runs). Where the endpoint lacks it (the local emulator), or when only
some messages should move, it receives, sends, then deletes: the send happens
before the delete, so an interruption can only duplicate a message, never lose
one, and the worker's writes are idempotent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from botocore.config import Config
from botocore.exceptions import ClientError

from contract.keys import FileKey
from ops.outputs import Stack

# Long enough to read a page, short enough that peeked messages soon return.
_PEEK_VISIBILITY_S = 30
_MOVE_TASK_POLL_S = 2
_MOVE_TASK_WAIT_S = 300


def depth(sqs, url: str) -> dict:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "inFlight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def _at(milliseconds: str | None) -> str | None:
    if not milliseconds:
        return None
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC).isoformat(timespec="seconds")


def describe(message: dict) -> dict:
    """What on-call wants to see of one dead message: the files it is about,
    or the start of its body when it is not an S3 notification."""
    attributes = message.get("Attributes", {})
    body = message["Body"]
    summary: dict = {
        "messageId": message["MessageId"],
        "receiveCount": int(attributes.get("ApproximateReceiveCount", "0")),
        "sentAt": _at(attributes.get("SentTimestamp")),
        "firstReceivedAt": _at(attributes.get("ApproximateFirstReceiveTimestamp")),
        "bodyBytes": len(body.encode()),
        "files": [],
    }
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    records = parsed.get("Records") if isinstance(parsed, dict) else None
    for record in records if isinstance(records, list) else []:
        s3 = record.get("s3", {}) if isinstance(record, dict) else {}
        key = unquote_plus(str(s3.get("object", {}).get("key", "")))
        file_key = FileKey.parse(key)
        summary["files"].append({
            "event": record.get("eventName") if isinstance(record, dict) else None,
            "bucket": s3.get("bucket", {}).get("name"),
            "key": key,
            "ownerId": file_key.owner_id if file_key else None,
            "fileId": file_key.file_id if file_key else None,
        })
    if not summary["files"]:
        summary["body"] = body[:200]
    return summary


def receive(sqs, url: str, limit: int, visibility: int) -> list[dict]:
    messages: list[dict] = []
    seen: set[str] = set()
    while len(messages) < limit:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(messages)),
                                    VisibilityTimeout=visibility, AttributeNames=["All"],
                                    MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update(m["MessageId"] for m in fresh)
        messages.extend(fresh)
    return messages


def peek(stack: Stack, limit: int = 10) -> list[dict]:
    """Show up to `limit` dead messages, then make them visible again at once.
    Nothing is consumed; the receive count shown includes earlier peeks."""
    sqs, url = stack.client("sqs"), stack.outputs.dead_letter_queue_url
    messages = receive(sqs, url, limit, _PEEK_VISIBILITY_S)
    for message in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [describe(m) for m in messages]


@dataclass(frozen=True)
class Redrive:
    moved: int
    method: str  # "move-task", "send-then-delete", or "dry-run"
    waiting: int  # dead messages before the redrive


def redrive(stack: Stack, limit: int | None = None, dry_run: bool = False) -> Redrive:
    """Move dead messages back to the ingest queue; says how many moved."""
    sqs, dlq = stack.client("sqs"), stack.outputs.dead_letter_queue_url
    waiting = depth(sqs, dlq)["visible"]
    if dry_run:
        return Redrive(moved=min(waiting, limit) if limit is not None else waiting, method="dry-run", waiting=waiting)
    # The move task has no message count, so a bounded redrive moves by hand.
    if limit is None:
        moved = _move_task(sqs, stack)
        if moved is not None:
            return Redrive(moved=moved, method="move-task", waiting=waiting)
    return Redrive(moved=_send_then_delete(sqs, dlq, stack.outputs.queue_url, limit), method="send-then-delete",
                   waiting=waiting)


def _arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _move_task(sqs, stack: Stack) -> int | None:
    """Run SQS's move task to the end; None when the endpoint has no such task."""
    source = _arn(sqs, stack.outputs.dead_letter_queue_url)
    # One attempt: an endpoint without the action (the emulator answers 500)
    # should not cost a round of retries. Falling back on any refusal is safe:
    # were a task started after all, the messages would be moved twice, and
    # the worker is idempotent.
    once = stack.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    try:
        handle = once.start_message_move_task(SourceArn=source, DestinationArn=_arn(sqs, stack.outputs.queue_url))
    except ClientError:
        return None
    deadline = time.monotonic() + _MOVE_TASK_WAIT_S
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source, MaxResults=10)["Results"]
        task = next((t for t in tasks if t.get("TaskHandle") == handle["TaskHandle"]), tasks[0] if tasks else {})
        if task.get("Status") in {"COMPLETED", "FAILED", "CANCELLED"} or time.monotonic() > deadline:
            if task.get("Status") == "FAILED":
                raise RuntimeError(f"the move task failed: {task.get('FailureReason', 'no reason given')}")
            return int(task.get("ApproximateNumberOfMessagesMoved", 0))
        time.sleep(_MOVE_TASK_POLL_S)


def _send_then_delete(sqs, dlq: str, source: str, limit: int | None) -> int:
    moved = 0
    while limit is None or moved < limit:
        batch = receive(sqs, dlq, min(10, (limit - moved) if limit is not None else 10), _PEEK_VISIBILITY_S)
        if not batch:
            break
        for message in batch:
            attributes = message.get("MessageAttributes")
            sqs.send_message(QueueUrl=source, MessageBody=message["Body"],
                             **({"MessageAttributes": attributes} if attributes else {}))
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


def purge(stack: Stack) -> int:
    """Remove every dead message; returns how many there were (SQS counts
    approximately, and purges what is in the queue when the call lands)."""
    sqs, url = stack.client("sqs"), stack.outputs.dead_letter_queue_url
    counts = depth(sqs, url)
    sqs.purge_queue(QueueUrl=url)
    return counts["visible"] + counts["inFlight"] + counts["delayed"]
