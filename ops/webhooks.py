"""Webhook deliveries per endpoint, and the redrive of dead-lettered ones.

What can really be read, without taking messages from the live queue:
- delivered and failed attempts per endpoint: the delivery function's EMF
  metrics (WebhooksDelivered, WebhookAttemptsFailed, by `endpoint`);
- retrying: the delivery queue's depth, for all endpoints together (SQS
  does not count by message content, and receiving from the live queue would
  delay deliveries);
- dead-lettered: the DLQ's messages, each one (endpoint, event), peeked and
  made visible again at once.

A redrive sends each chosen dead delivery back to the delivery queue, then
deletes it from the DLQ: an interruption can duplicate a delivery (same
`webhook-id`, which receivers de-duplicate by), never lose one. A redriven
delivery starts the retry schedule afresh.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from contract.metrics import (
    ENDPOINT_DIMENSION,
    NAMESPACE,
    SERVICE_DIMENSION,
    STACK_DIMENSION,
    WEBHOOK_ATTEMPTS_FAILED,
    WEBHOOKS_DELIVERED,
    WEBHOOKS_SERVICE,
)
from contract.names import Names
from contract.webhooks import ENDPOINT_KEY, EVENT_KEY
from ops.dlq import depth, receive
from ops.outputs import Stack

# Long enough to read a page, short enough that peeked messages soon return.
_PEEK_VISIBILITY_S = 30
# How far back delivered and failed attempts are summed.
SINCE = timedelta(hours=24)


def _dead(message: dict) -> dict:
    try:
        body = json.loads(message["Body"])
        event = body[EVENT_KEY]
        return {"endpoint": body[ENDPOINT_KEY], "eventId": event["detail"]["eventId"],
                "detailType": event.get("detail-type"), "fileId": event["detail"].get("fileId"),
                "receiveCount": int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))}
    except (ValueError, KeyError, TypeError):
        return {"endpoint": None, "eventId": None, "body": message["Body"][:200]}


def dead_letters(stack: Stack, limit: int = 1000) -> list[dict]:
    """Every dead delivery (up to `limit`), made visible again at once."""
    sqs, url = stack.client("sqs"), stack.outputs.webhook_dead_letter_queue_url
    messages = receive(sqs, url, limit, _PEEK_VISIBILITY_S)
    for message in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [_dead(m) for m in messages]


def _sums(stack: Stack, metric: str, since: timedelta) -> dict[str, int]:
    """The metric's sum per endpoint over `since`, for this stack's delivery function."""
    names = Names.of_webhook_queue(stack.outputs.webhook_queue_url.rsplit("/", 1)[1])
    cloudwatch = stack.client("cloudwatch")
    listed = cloudwatch.list_metrics(Namespace=NAMESPACE, MetricName=metric, Dimensions=[
        {"Name": SERVICE_DIMENSION, "Value": WEBHOOKS_SERVICE}, {"Name": STACK_DIMENSION, "Value": names.stack}])
    end = datetime.now(UTC)
    sums: dict[str, int] = {}
    for found in listed["Metrics"]:
        dimensions = {d["Name"]: d["Value"] for d in found["Dimensions"]}
        if ENDPOINT_DIMENSION not in dimensions:
            continue
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName=metric, Dimensions=found["Dimensions"], StartTime=end - since,
            EndTime=end, Period=max(60, int(since.total_seconds()) // 60 * 60), Statistics=["Sum"])["Datapoints"]
        endpoint = dimensions[ENDPOINT_DIMENSION]
        sums[endpoint] = sums.get(endpoint, 0) + int(sum(p["Sum"] for p in points))
    return sums


def show(stack: Stack, since: timedelta = SINCE) -> dict:
    if not stack.outputs.webhook_queue_url:
        return {"configured": False, "endpoints": [], "retrying": None, "deadLetterQueue": None}
    delivered = _sums(stack, WEBHOOKS_DELIVERED, since)
    failed = _sums(stack, WEBHOOK_ATTEMPTS_FAILED, since)
    dead = dead_letters(stack)
    endpoints = sorted({*delivered, *failed, *(d["endpoint"] for d in dead if d["endpoint"])})
    return {
        "configured": True,
        "since": (datetime.now(UTC) - since).isoformat(timespec="seconds"),
        "retrying": depth(stack.client("sqs"), stack.outputs.webhook_queue_url),
        "deadLetterQueue": depth(stack.client("sqs"), stack.outputs.webhook_dead_letter_queue_url),
        "endpoints": [{
            "endpoint": name,
            "delivered": delivered.get(name, 0),
            "failedAttempts": failed.get(name, 0),
            "deadLettered": sum(1 for d in dead if d["endpoint"] == name),
            "deadEvents": [d["eventId"] for d in dead if d["endpoint"] == name],
        } for name in endpoints],
        "unreadable": [d for d in dead if d["endpoint"] is None],
    }


def redrive(stack: Stack, endpoint: str | None = None) -> dict:
    """Moves dead deliveries (all, or one endpoint's) back to the delivery queue."""
    sqs = stack.client("sqs")
    dlq, queue = stack.outputs.webhook_dead_letter_queue_url, stack.outputs.webhook_queue_url
    moved, others = 0, []
    # Other endpoints' deliveries stay hidden until the end, so each receive finds new ones.
    while batch := receive(sqs, dlq, 10, _PEEK_VISIBILITY_S):
        for message in batch:
            if endpoint is not None and _dead(message)["endpoint"] != endpoint:
                others.append(message)
                continue
            sqs.send_message(QueueUrl=queue, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    for message in others:
        sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return {"moved": moved, "left": len(others), "endpoint": endpoint}
