"""Webhooks: the stack's lifecycle events (contract/events.py) POSTed to the
endpoints a stack configures (`uploads:webhooks`), signed with the Standard
Webhooks scheme (https://www.standardwebhooks.com/, docs/events.md#webhooks).

A rule per endpoint on the stack's bus sends the detail types it asked for to
one delivery queue, each event wrapped with the endpoint's name by the
target's input transformer, so one message is one (endpoint, event) delivery.
The delivery function POSTs it; a failed attempt hides the message for the
next step of the backoff schedule (`DeliverySettings`), and the queue's
redrive policy dead-letters it once the schedule has spanned its window.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from contract.events import DETAIL_TYPES, EVENT_SOURCE

# What the delivery function reads: each endpoint's URL and secret parameter,
# by name, and the schedule and timeouts it delivers with.
ENV_WEBHOOK_ENDPOINTS = "WEBHOOK_ENDPOINTS"
ENV_WEBHOOK_DELIVERY = "WEBHOOK_DELIVERY"
# The settings the function itself applies; the rest shape the queue and the mapping.
_FUNCTION_SETTINGS = ("first_retry_s", "max_backoff_s", "retry_window_s", "connect_timeout_s", "read_timeout_s")
# In rule names (64 characters at most, with `uploads-<stack>-webhook-` before it).
ENDPOINT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,22}$")
# What the input transformer puts around the event (EventBridge's predefined
# variable `aws.events.event.json` is the whole original event:
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html).
ENDPOINT_KEY = "endpoint"
EVENT_KEY = "event"
# SQS's ceiling for a message's visibility timeout
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html).
MAX_VISIBILITY_S = 12 * 3600
# SQS's bounds for MessageRetentionPeriod.
RETENTION_S = (60, 14 * 24 * 3600)
# The Standard Webhooks secret: `whsec_` and base64 of the key.
SECRET_PREFIX = "whsec_"
# An endpoint's secret is an SSM SecureString, by name, or a Secrets Manager
# secret, by ARN: IAM grants a secret by its full ARN, random suffix included.
SECRETS_MANAGER_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:[\w/+=.@-]+$")


def in_secrets_manager(reference: str) -> bool:
    return SECRETS_MANAGER_ARN.match(reference) is not None


@dataclass(frozen=True)
class WebhookEndpoint:
    name: str
    url: str
    # An SSM SecureString parameter's name, or a Secrets Manager secret's ARN;
    # the value is never in config or code.
    secret_parameter: str
    detail_types: tuple[str, ...] = DETAIL_TYPES

    def __post_init__(self) -> None:
        if not ENDPOINT_NAME.match(self.name):
            raise ValueError(f"webhook name {self.name!r}: 1-23 lowercase letters, digits or hyphens, "
                             "starting with a letter")
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"webhook {self.name}: url must be http(s)")
        unknown = set(self.detail_types) - set(DETAIL_TYPES)
        if unknown or not self.detail_types:
            raise ValueError(f"webhook {self.name}: detailTypes must be a non-empty subset of {DETAIL_TYPES}")

    @property
    def event_pattern(self) -> dict:
        return {"source": [EVENT_SOURCE], "detail-type": list(self.detail_types)}

    @property
    def input_transformer(self) -> dict:
        """The rule target's InputTransformer: the event, wrapped with this endpoint's name."""
        return {"InputTemplate": f'{{"{ENDPOINT_KEY}": "{self.name}", "{EVENT_KEY}": <aws.events.event.json>}}'}


def endpoints_variable(endpoints: Iterable[WebhookEndpoint]) -> str:
    """The delivery function's `WEBHOOK_ENDPOINTS`: names, URLs and secret
    parameter names (no secrets)."""
    return json.dumps({e.name: {"url": e.url, "secretParameter": e.secret_parameter} for e in endpoints},
                      sort_keys=True)


def parse_endpoints_variable(value: str) -> Mapping[str, WebhookEndpoint]:
    return {name: WebhookEndpoint(name, spec["url"], spec["secretParameter"])
            for name, spec in json.loads(value).items()}


@dataclass(frozen=True)
class DeliverySettings:
    """The retry schedule and what derives from it. Attempt n (1-based) that
    fails hides its message for `backoff_s(n)`: doubling from `first_retry_s`,
    capped at `max_backoff_s`. `max_receive_count` is the fewest attempts whose
    waits span `retry_window_s`; the next receive dead-letters the message."""

    first_retry_s: int = 60
    max_backoff_s: int = MAX_VISIBILITY_S
    retry_window_s: int = 24 * 3600
    # A receiver is told to answer fast; one that does not is retried later.
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 5.0
    batch_size: int = 5
    batching_window_s: int = 0
    receive_wait_s: int = 20
    maximum_concurrency: int = 2
    reserved_concurrency: int | None = None
    memory_mb: int = 256
    message_retention_s: int = 4 * 24 * 3600
    dlq_retention_s: int = 14 * 24 * 3600

    def __post_init__(self) -> None:
        if not 1 <= self.first_retry_s <= self.max_backoff_s <= MAX_VISIBILITY_S:
            raise ValueError(f"backoff must satisfy 1 <= first_retry_s <= max_backoff_s <= {MAX_VISIBILITY_S}")
        if self.retry_window_s < self.first_retry_s:
            raise ValueError("retry_window_s must be at least first_retry_s")
        if not self.schedule_span_s < self.message_retention_s <= RETENTION_S[1]:
            raise ValueError("message_retention_s must outlast the whole schedule, within SQS's 14 days")
        if self.dlq_retention_s <= self.message_retention_s:
            raise ValueError("the DLQ must keep messages longer than the source queue")

    @property
    def variable(self) -> str:
        """The delivery function's `WEBHOOK_DELIVERY`."""
        return json.dumps({name: getattr(self, name) for name in _FUNCTION_SETTINGS}, sort_keys=True)

    @classmethod
    def from_variable(cls, value: str) -> DeliverySettings:
        return cls(**{name: v for name, v in json.loads(value).items() if name in _FUNCTION_SETTINGS})

    def backoff_s(self, attempt: int) -> int:
        """How long a delivery waits after its `attempt`-th failure."""
        return min(self.first_retry_s * 2 ** min(attempt - 1, 32), self.max_backoff_s)

    @property
    def max_receive_count(self) -> int:
        waited, attempts = 0, 1
        while waited < self.retry_window_s:
            waited += self.backoff_s(attempts)
            attempts += 1
        return attempts

    @property
    def schedule(self) -> tuple[int, ...]:
        """The waits between attempts, first to last."""
        return tuple(self.backoff_s(n) for n in range(1, self.max_receive_count))

    @property
    def schedule_span_s(self) -> int:
        """From the first attempt to the dead-lettering receive, at most:
        every wait, and each attempt's whole visibility timeout."""
        return sum(self.schedule) + self.backoff_s(self.max_receive_count) \
            + self.max_receive_count * self.visibility_timeout_s

    @property
    def worker_timeout_s(self) -> int:
        """A full batch of receivers that each take the longest allowed, and room to report."""
        return int(-(-self.batch_size * (self.connect_timeout_s + self.read_timeout_s) // 1)) + 5

    @property
    def visibility_timeout_s(self) -> int:
        # AWS's guidance for SQS event sources, as for the ingest queue (contract/ingest.py).
        return 6 * self.worker_timeout_s + self.batching_window_s


DELIVERY = DeliverySettings()
