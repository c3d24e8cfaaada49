"""What pages on-call, and the CloudWatch monitoring board that shows the same signals.

Metric factories say what to measure; `_alarm` says when to page. Every alarm
is built by `_alarm` alone, so naming, actions, missing-data treatment and the
runbook link cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.stack_config import AlarmSubscription
from contract.ingest import IngestSettings
from contract.metrics import FILES_FAILED, INGEST_SERVICE, NAMESPACE, STACK_DIMENSION
from contract.names import Names

RUNBOOK = "docs/runbooks.md"
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


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    stat: str


@dataclass(frozen=True)
class Insights:
    """A Metrics Insights query: sums a metric over every dimension set it is
    published with (FilesFailed also carries an error code)."""

    label: str
    query: str


def sqs(name: str, queue: str, stat: str = "Maximum") -> Metric:
    return Metric("AWS/SQS", name, {"QueueName": queue}, stat)


def function(name: str, function_name: str, stat: str = "Sum") -> Metric:
    return Metric("AWS/Lambda", name, {"FunctionName": function_name}, stat)


def http_api(name: str, api_id: pulumi.Input[str], stat: str = "Sum") -> Metric:
    return Metric("AWS/ApiGateway", name, {"ApiId": api_id, "Stage": "$default"}, stat)


@dataclass
class OnCallAlarmsArgs:
    names: Names
    ingest: IngestSettings
    region: str
    api_id: pulumi.Input[str]
    subscriptions: Sequence[AlarmSubscription]


class OnCallAlarms(pulumi.ComponentResource):
    topic: aws.sns.Topic
    monitoring_url: pulumi.Output[str]

    def __init__(self, name: str, args: OnCallAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:alarms:OnCallAlarms", name, None, opts)
        self._name = name
        self._prefix = args.names.prefix
        self._region = args.region
        self._widgets: list[dict] = []
        # Not KMS-encrypted: CloudWatch cannot publish to a topic under the
        # AWS-managed SNS key, and alarm notifications carry no file data.
        self.topic = aws.sns.Topic(
            f"{name}-topic", name=f"{self._prefix}-alarms", opts=pulumi.ResourceOptions(parent=self)
        )
        for index, subscription in enumerate(args.subscriptions):
            aws.sns.TopicSubscription(
                f"{name}-subscription-{index}",
                topic=self.topic.arn,
                protocol=subscription.protocol,
                endpoint=subscription.endpoint,
                opts=pulumi.ResourceOptions(parent=self),
            )

        names, ingest = args.names, args.ingest
        # Longer than a poison message can spend retrying before it is dead-lettered,
        # so this fires for a stalled queue, not for one bad message.
        stalled_s = ingest.visibility_timeout_s * ingest.max_receive_count
        near_timeout_ms = ingest.worker_timeout_s * 1000 * DURATION_TIMEOUT_FRACTION
        # SCHEMA(...) pins the exact dimension set: the per-code series would otherwise be counted twice.
        failed_files = Insights(
            label="files failed",
            query=f'SELECT SUM({FILES_FAILED}) FROM SCHEMA("{NAMESPACE}", service, {STACK_DIMENSION}) '
                  f"WHERE service = '{INGEST_SERVICE}' AND {STACK_DIMENSION} = '{names.stack}'",
        )
        table_throttles = Insights(
            label="throttled requests",
            query='SELECT SUM(ThrottledRequests) FROM SCHEMA("AWS/DynamoDB", Operation, TableName) '
                  f"WHERE TableName = '{names.table}'",
        )

        self._alarm("dlq-messages", "Messages are waiting in the dead-letter queue",
                    sqs("ApproximateNumberOfMessagesVisible", names.dead_letter_queue),
                    threshold=1, missing=KEEP_STATE, period_s=60)
        self._alarm("queue-stalled", "The oldest ingest message is older than its retries can explain",
                    sqs("ApproximateAgeOfOldestMessage", names.queue),
                    threshold=stalled_s, missing=KEEP_STATE)
        self._alarm("worker-errors", "Ingest worker invocations are failing",
                    function("Errors", names.ingest_function),
                    threshold=3, missing=QUIET_IS_OK)
        self._alarm("worker-throttles", "Lambda refuses to invoke the ingest worker",
                    function("Throttles", names.ingest_function),
                    threshold=1, missing=QUIET_IS_OK)
        self._alarm("worker-duration", "Ingest worker p99 duration is close to its timeout",
                    function("Duration", names.ingest_function, stat="p99"),
                    threshold=near_timeout_ms, missing=QUIET_IS_OK, periods=3)
        self._alarm("api-5xx", "The API answers with server errors",
                    http_api("5xx", args.api_id),
                    threshold=5, missing=QUIET_IS_OK)
        self._alarm("api-latency", "API p99 latency is high",
                    http_api("Latency", args.api_id, stat="p99"),
                    threshold=API_P99_LATENCY_MS, missing=QUIET_IS_OK, periods=3)
        self._alarm("api-errors", "API function invocations are failing",
                    function("Errors", names.api_function),
                    threshold=3, missing=QUIET_IS_OK)
        self._alarm("table-throttles", "DynamoDB is throttling requests to the metadata table",
                    table_throttles,
                    threshold=1, missing=QUIET_IS_OK)
        self._alarm("files-failed", "Uploaded files are failing to process",
                    failed_files,
                    threshold=5, missing=QUIET_IS_OK, period_s=900)

        # "Dashboard" is CloudWatch's word; in this project the dashboard is the web UI.
        board = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=self._prefix,
            dashboard_body=pulumi.Output.json_dumps({"widgets": self._widgets}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.monitoring_url = pulumi.Output.concat(
            "https://", args.region, ".console.aws.amazon.com/cloudwatch/home?region=", args.region,
            "#dashboards/dashboard/", board.dashboard_name,
        )
        self.register_outputs({"alarmTopicArn": self.topic.arn, "monitoringUrl": self.monitoring_url})

    def _alarm(self, signal: str, summary: str, source: Metric | Insights, *, threshold: float, missing: str,
               periods: int = 1, period_s: int = 300) -> None:
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-{signal}",
            name=f"{self._prefix}-{signal}",
            alarm_description=f"{summary}. Runbook: {RUNBOOK}#{signal}",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            metric_queries=[_query(source, period_s)],
            treat_missing_data=missing,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._widgets.append(_widget(signal, source, threshold, period_s, self._region))


def _query(source: Metric | Insights, period_s: int) -> dict:
    if isinstance(source, Insights):
        return {"id": "q", "expression": source.query, "label": source.label, "period": period_s,
                "return_data": True}
    return {
        "id": "m",
        "return_data": True,
        "metric": {
            "namespace": source.namespace,
            "metric_name": source.name,
            "dimensions": dict(source.dimensions),
            "stat": source.stat,
            "period": period_s,
        },
    }


def _widget(signal: str, source: Metric | Insights, threshold: float, period_s: int, region: str) -> dict:
    if isinstance(source, Insights):
        metrics: list = [[{"expression": source.query, "label": source.label, "id": "q"}]]
        stat = "Sum"
    else:
        dimensions = [part for key, value in source.dimensions.items() for part in (key, value)]
        metrics = [[source.namespace, source.name, *dimensions]]
        stat = source.stat
    return {
        "type": "metric",
        "width": 8,
        "height": 6,
        "properties": {
            "title": signal,
            "region": region,
            "metrics": metrics,
            "stat": stat,
            "period": period_s,
            "view": "timeSeries",
            "annotations": {"horizontal": [{"label": "alarm", "value": threshold}]},
        },
    }
