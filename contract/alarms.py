"""What pages on-call: every alarm, declared once. The Pulumi program
(components/alarms.py) deploys these and the local stack (local/cloudwatch/)
evaluates the same declarations, so a threshold, a statistic, a dimension or a
missing-data rule cannot differ between what is deployed and what is drilled.

The HTTP API's id is known only once it exists: it is passed in, a string
locally and a Pulumi Output in the program, and only carried through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.ingest import IngestSettings
from contract.metrics import (
    FILES_FAILED,
    FILES_PROCESSED,
    INGEST_SERVICE,
    NAMESPACE,
    SCANS_FAILED,
    SCANS_STUCK,
    SERVICE_DIMENSION,
    STACK_DIMENSION,
)
from contract.names import Names
from contract.scan import SWEEP_RATE_MINUTES

RUNBOOK = "docs/runbooks.md"
GREATER_OR_EQUAL = "GreaterThanOrEqualToThreshold"
# SQS stops publishing metrics for a queue that has been idle for hours; a
# dead-letter backlog must not turn OK just because nothing touched it.
KEEP_STATE = "ignore"
# Lambda, API Gateway, DynamoDB and EMF publish nothing without traffic, and
# no traffic means nothing failed.
QUIET_IS_OK = "notBreaching"
# Users notice an API slower than this; the handler's own timeout is far above it.
API_P99_LATENCY_MS = 2000
# A worker that keeps nearing its timeout will soon start timing out.
DURATION_TIMEOUT_FRACTION = 0.8
HTTP_API_STAGE = "$default"
# files-failed pages on the share of files that fail, once enough were
# handled in its period for a share to mean something. The healthy soak
# (`make soak ARGS="--healthy"`: 200 uploads, 12 hostile) fails 6% of its
# files, and never more than 3 in any 20 in a row (15%): users send bad files
# on a good day. One of four kinds failing (a broken extractor) fails 25% of
# such traffic and more. Below the minimum, a few bad files in a quiet
# period are a user, not the system.
FAILED_SHARE_PERCENT = 20
FAILED_SHARE_MIN_FILES = 20


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, Any]
    stat: str


@dataclass(frozen=True)
class Insights:
    """A Metrics Insights query: sums a metric over every series it matches
    (DynamoDB publishes ThrottledRequests per operation)."""

    label: str
    query: str


@dataclass(frozen=True)
class MetricMath:
    """A metric math expression over `metrics`, by the ids it names them
    with; the alarm watches the expression alone (its ReturnData is the only
    true one). Every metric is read with the alarm's period, as CloudWatch
    requires of a math alarm."""

    id: str
    label: str
    expression: str
    metrics: Mapping[str, Metric]


@dataclass(frozen=True)
class AlarmSpec:
    signal: str
    summary: str
    source: Metric | Insights | MetricMath
    threshold: float
    missing: str
    periods: int = 1
    period_s: int = 300
    comparison: str = GREATER_OR_EQUAL
    # M of N; unset, every period of the window must breach.
    datapoints_to_alarm: int | None = None

    @property
    def datapoints(self) -> int:
        return self.datapoints_to_alarm or self.periods

    @property
    def runbook(self) -> str:
        return f"{RUNBOOK}#{self.signal}"

    @property
    def description(self) -> str:
        return f"{self.summary}. Runbook: {self.runbook}"

    def name(self, names: Names) -> str:
        return f"{names.prefix}-{self.signal}"


def sqs(name: str, queue: str, stat: str = "Maximum") -> Metric:
    return Metric("AWS/SQS", name, {"QueueName": queue}, stat)


def function(name: str, function_name: str, stat: str = "Sum") -> Metric:
    return Metric("AWS/Lambda", name, {"FunctionName": function_name}, stat)


def http_api(name: str, api_id: Any, stat: str = "Sum") -> Metric:
    return Metric("AWS/ApiGateway", name, {"ApiId": api_id, "Stage": HTTP_API_STAGE}, stat)


def worker(name: str, names: Names, stat: str = "Sum") -> Metric:
    """A metric the ingest worker emits, with the dimensions Powertools writes."""
    return Metric(NAMESPACE, name, {SERVICE_DIMENSION: INGEST_SERVICE, STACK_DIMENSION: names.stack}, stat)


def alarms(names: Names, ingest: IngestSettings, api_id: Any, *, malware_scan: bool = False,
           webhooks: bool = False) -> tuple[AlarmSpec, ...]:
    """`malware_scan`: the stack scans uploads (`uploads:malwareScan`); only
    then is there a scan to fail or to wait for. `webhooks`: the stack has
    webhook endpoints (`uploads:webhooks`), and so a delivery queue."""
    # Longer than a poison message can spend retrying before it is dead-lettered,
    # so this fires for a stalled queue, not for one bad message. A poison
    # message is dead-lettered only when a receive finds its last visibility
    # timeout over, so it is `visibility x maxReceiveCount` old by then: at
    # exactly that threshold the drill saw it page (tests/local/test_alarm_drills.py).
    stalled_s = ingest.visibility_timeout_s * (ingest.max_receive_count + 1)
    near_timeout_ms = ingest.worker_timeout_s * 1000 * DURATION_TIMEOUT_FRACTION
    # A metric is its exact dimension set, so m1 is the total, not the per-code
    # series again. FILL gives every period a value: a quiet period is 0%, and
    # the IF keeps the division away from zero.
    failed, handled = "FILL(m1, 0)", "(FILL(m1, 0) + FILL(m2, 0))"
    failed_share = MetricMath(
        id="e1",
        label="files failed (%)",
        expression=f"IF({handled} >= {FAILED_SHARE_MIN_FILES}, 100 * {failed} / {handled}, 0)",
        metrics={"m1": worker(FILES_FAILED, names), "m2": worker(FILES_PROCESSED, names)},
    )
    table_throttles = Insights(
        label="throttled requests",
        query='SELECT SUM(ThrottledRequests) FROM SCHEMA("AWS/DynamoDB", Operation, TableName) '
              f"WHERE TableName = '{names.table}'",
    )
    scanning = (
        # Each one is a file blocked until on-call rescans it, and FAILED or
        # ACCESS_DENIED says GuardDuty or its role is broken, not the file.
        AlarmSpec("scans-failed", "Malware scans are failing: files stay blocked until rescanned",
                  worker(SCANS_FAILED, names),
                  threshold=1, missing=QUIET_IS_OK),
        # The sweep counts them once per period; a period it missed changes nothing.
        AlarmSpec("scans-stuck", "Uploaded files have waited for their malware scan past the bound",
                  worker(SCANS_STUCK, names, stat="Maximum"),
                  threshold=1, missing=KEEP_STATE, period_s=SWEEP_RATE_MINUTES * 60),
    ) if malware_scan else ()
    # A dead-lettered delivery is an event an integration never got: its
    # receiver failed for the whole retry window (contract/webhooks.py).
    delivering = (
        AlarmSpec("webhooks-dead-lettered", "Webhook deliveries were dead-lettered after a day of retries",
                  sqs("ApproximateNumberOfMessagesVisible", names.webhook_dead_letter_queue),
                  threshold=1, missing=KEEP_STATE, period_s=60),
    ) if webhooks else ()
    return (
        AlarmSpec("dlq-messages", "Messages are waiting in the dead-letter queue",
                  sqs("ApproximateNumberOfMessagesVisible", names.dead_letter_queue),
                  threshold=1, missing=KEEP_STATE, period_s=60),
        # Each message is a batch of recorded outcomes the producer gave up
        # putting on the bus: integrations were not told (docs/events.md).
        AlarmSpec("events-dlq-messages", "Lifecycle events could not be put on the bus and wait in their DLQ",
                  sqs("ApproximateNumberOfMessagesVisible", names.events_dead_letter_queue),
                  threshold=1, missing=KEEP_STATE, period_s=60),
        AlarmSpec("queue-stalled", "The oldest ingest message is older than its retries can explain",
                  sqs("ApproximateAgeOfOldestMessage", names.queue),
                  threshold=stalled_s, missing=KEEP_STATE),
        AlarmSpec("worker-errors", "Ingest worker invocations are failing",
                  function("Errors", names.ingest_function),
                  threshold=3, missing=QUIET_IS_OK),
        AlarmSpec("worker-throttles", "Lambda refuses to invoke the ingest worker",
                  function("Throttles", names.ingest_function),
                  threshold=1, missing=QUIET_IS_OK),
        AlarmSpec("worker-duration", "Ingest worker p99 duration is close to its timeout",
                  function("Duration", names.ingest_function, stat="p99"),
                  threshold=near_timeout_ms, missing=QUIET_IS_OK, periods=3),
        AlarmSpec("api-5xx", "The API answers with server errors",
                  http_api("5xx", api_id),
                  threshold=5, missing=QUIET_IS_OK),
        AlarmSpec("api-latency", "API p99 latency is high",
                  http_api("Latency", api_id, stat="p99"),
                  threshold=API_P99_LATENCY_MS, missing=QUIET_IS_OK, periods=3),
        AlarmSpec("api-errors", "API function invocations are failing",
                  function("Errors", names.api_function),
                  threshold=3, missing=QUIET_IS_OK),
        AlarmSpec("table-throttles", "DynamoDB is throttling requests to the metadata table",
                  table_throttles,
                  threshold=1, missing=QUIET_IS_OK),
        AlarmSpec("files-failed", "A large share of uploaded files are failing to process",
                  failed_share,
                  threshold=FAILED_SHARE_PERCENT, missing=QUIET_IS_OK, period_s=900),
        *scanning,
        *delivering,
    )
