"""One delivery as plain functions: read the message, sign the event, POST it.

The body is the EventBridge event as the rule delivered it, serialized once,
and the signature covers exactly those bytes. `webhook-id` is the event's
`detail.eventId`, so every retry, redrive and duplicate of one outcome carries
the same id and a receiver de-duplicates by it (Standard Webhooks, "Idempotency").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import urllib3
from standardwebhooks import Webhook

from contract.webhooks import ENDPOINT_KEY, EVENT_KEY

USER_AGENT = "uploads-webhooks/1"


class DeliveryFailed(Exception):
    """The receiver did not acknowledge: a non-2xx answer, a timeout or no connection."""


@dataclass(frozen=True)
class Delivery:
    endpoint: str
    event: dict[str, Any]

    @property
    def event_id(self) -> str:
        return self.event["detail"]["eventId"]

    @property
    def body(self) -> str:
        return json.dumps(self.event, separators=(",", ":"))


def parse(body: str) -> Delivery:
    message = json.loads(body)
    return Delivery(endpoint=message[ENDPOINT_KEY], event=message[EVENT_KEY])


def signed_headers(secret: str, delivery: Delivery, now: datetime) -> dict[str, str]:
    """Standard Webhooks' three headers: the id, the time in whole seconds,
    and `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(delivery.event_id, now, delivery.body),
    }


def post(http: urllib3.PoolManager, url: str, delivery: Delivery, headers: dict[str, str]) -> int:
    """POSTs the delivery; its status when 2xx, else DeliveryFailed. Redirects
    are not followed: a receiver that moved is a configuration to fix, and a
    signed body must not be replayed to wherever a Location points."""
    try:
        # Only the status matters: a receiver's body is not read, so it cannot hold the function.
        response = http.request("POST", url, body=delivery.body.encode(), headers=headers, redirect=False,
                                retries=False, preload_content=False)
    except urllib3.exceptions.HTTPError as error:
        raise DeliveryFailed(type(error).__name__) from None
    response.close()
    if not 200 <= response.status < 300:
        raise DeliveryFailed(f"HTTP {response.status}")
    return response.status
