"""Every alarm of the stack: its state, since when, the last value against its
threshold, and its runbook. The same on AWS and on the local stack, whose
CloudWatch evaluates the same alarms (local/cloudwatch/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ops.outputs import Stack

_COMPARISONS = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">",
                "LessThanThreshold": "<", "LessThanOrEqualToThreshold": "<="}


def alarms(stack: Stack, state: str | None = None) -> list[dict]:
    """Alarms that notify this stack's topic (on the local stack, which has
    one stack's alarms only, all of them), in `state` if given."""
    topic = stack.alarm_topic_arn
    paginator = stack.client("cloudwatch").get_paginator("describe_alarms")
    pages = paginator.paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"],
                               **({"ActionPrefix": topic} if topic else {}))
    found = [_alarm(alarm) for page in pages for kind in ("MetricAlarms", "CompositeAlarms")
             for alarm in page.get(kind, [])]
    return [alarm for alarm in found if state in (None, alarm["state"])]


def _alarm(alarm: dict) -> dict:
    try:
        recent = json.loads(alarm.get("StateReasonData") or "{}").get("recentDatapoints") or []
    except ValueError:
        recent = []
    return {
        "name": alarm["AlarmName"],
        "state": alarm.get("StateValue"),
        "since": _iso(alarm.get("StateUpdatedTimestamp")),
        "lastValue": recent[-1] if recent else None,
        "comparison": _COMPARISONS.get(alarm.get("ComparisonOperator", ""), alarm.get("ComparisonOperator")),
        "threshold": alarm.get("Threshold"),
        "reason": alarm.get("StateReason", ""),
        "runbook": _runbook(alarm.get("AlarmDescription", "")),
    }


def _runbook(description: str) -> str | None:
    _, found, link = description.partition("Runbook: ")
    return link.strip() if found else None


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None
