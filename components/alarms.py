"""What pages on-call, and the CloudWatch monitoring board that shows the same signals.

The alarms are declared once in contract/alarms.py, which the local stack
evaluates too; every one is deployed by `_alarm` alone, so naming, actions and
the runbook link cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.stack_config import AlarmSubscription
from contract.alarms import AlarmSpec, Insights, Metric, MetricMath, alarms
from contract.ingest import IngestSettings
from contract.names import Names


@dataclass
class OnCallAlarmsArgs:
    names: Names
    ingest: IngestSettings
    region: str
    api_id: pulumi.Input[str]
    subscriptions: Sequence[AlarmSubscription]
    malware_scan: bool = False
    # The stack delivers webhooks (`uploads:webhooks`): its delivery DLQ is watched.
    webhooks: bool = False


class OnCallAlarms(pulumi.ComponentResource):
    topic: aws.sns.Topic
    monitoring_url: pulumi.Output[str]

    def __init__(self, name: str, args: OnCallAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:alarms:OnCallAlarms", name, None, opts)
        self._name = name
        self._names = args.names
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

        for spec in alarms(args.names, args.ingest, args.api_id, malware_scan=args.malware_scan,
                           webhooks=args.webhooks):
            self._alarm(spec)

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

    def _alarm(self, spec: AlarmSpec) -> None:
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-{spec.signal}",
            name=spec.name(self._names),
            alarm_description=spec.description,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            evaluation_periods=spec.periods,
            datapoints_to_alarm=spec.datapoints,
            metric_queries=_queries(spec.source, spec.period_s),
            treat_missing_data=spec.missing,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._widgets.append(_widget(spec.signal, spec.source, spec.threshold, spec.period_s, self._region))


def _queries(source: Metric | Insights | MetricMath, period_s: int) -> list[dict]:
    if isinstance(source, Insights):
        return [{"id": "q", "expression": source.query, "label": source.label, "period": period_s,
                 "return_data": True}]
    if isinstance(source, MetricMath):
        # The alarm watches the expression: the metrics it reads return no data of their own.
        return [*(_metric_query(metric_id, metric, period_s, return_data=False)
                  for metric_id, metric in source.metrics.items()),
                {"id": source.id, "expression": source.expression, "label": source.label, "return_data": True}]
    return [_metric_query("m", source, period_s, return_data=True)]


def _metric_query(query_id: str, metric: Metric, period_s: int, return_data: bool) -> dict:
    return {
        "id": query_id,
        "return_data": return_data,
        "metric": {
            "namespace": metric.namespace,
            "metric_name": metric.name,
            "dimensions": dict(metric.dimensions),
            "stat": metric.stat,
            "period": period_s,
        },
    }


def _widget(signal: str, source: Metric | Insights | MetricMath, threshold: float, period_s: int,
            region: str) -> dict:
    if isinstance(source, Insights):
        metrics: list = [[{"expression": source.query, "label": source.label, "id": "q"}]]
        stat = "Sum"
    elif isinstance(source, MetricMath):
        metrics = [[{"expression": source.expression, "label": source.label, "id": source.id}],
                   *([*_widget_metric(metric), {"id": metric_id, "stat": metric.stat, "visible": False}]
                     for metric_id, metric in source.metrics.items())]
        stat = "Sum"
    else:
        metrics = [_widget_metric(source)]
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


def _widget_metric(metric: Metric) -> list:
    return [metric.namespace, metric.name, *(part for key, value in metric.dimensions.items() for part in (key, value))]
