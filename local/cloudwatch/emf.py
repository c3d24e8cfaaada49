"""Embedded Metric Format lines read as CloudWatch Logs reads them
("Specification: Embedded metric format",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).

A log line is an EMF document when it is a JSON object with an `_aws` member
(Lambda may prefix metadata; the document after it counts). It must have
`_aws.Timestamp` (milliseconds since the epoch, a number) and
`_aws.CloudWatchMetrics`, an array of directives, each with a `Namespace`
(1-255 characters), `Dimensions` (an array of dimension sets, each an array
of at most 30 names, each naming a root member whose value is a string) and
`Metrics` (at most 100 definitions, each with a `Name` naming a root member
that is a number or an array of at most 100 numbers; `Unit` from
CloudWatch's units; `StorageResolution` 1 or 60). A document that breaks any
of this yields no metric at all, as CloudWatch extracts none from it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
})
MAX_DIMENSIONS = 30
MAX_METRICS = 100
MAX_VALUES = 100


class InvalidEmf(ValueError):
    """A line that claims to be EMF (has `_aws`) and breaks the specification."""


@dataclass(frozen=True)
class Sample:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    values: tuple[float, ...]
    unit: str
    timestamp_ms: float


def document(line: str) -> dict | None:
    """The JSON object in a log line, after any prefix Lambda adds; None when
    the line holds no EMF document."""
    start = line.find("{")
    if start < 0 or '"_aws"' not in line:
        return None
    try:
        value = json.loads(line[start:])
    except ValueError as error:
        raise InvalidEmf(f"not JSON: {error}") from None
    if not isinstance(value, dict) or "_aws" not in value:
        return None
    return value


def samples(line: str) -> list[Sample]:
    """Every metric the line's EMF document carries, one sample per dimension
    set; [] for a line that is not EMF. Raises InvalidEmf for a broken one."""
    root = document(line)
    if root is None:
        return []
    meta = root["_aws"]
    if not isinstance(meta, dict):
        raise InvalidEmf("_aws must be an object")
    timestamp = meta.get("Timestamp")
    if not _number(timestamp):
        raise InvalidEmf("_aws.Timestamp must be a number of milliseconds")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise InvalidEmf("_aws.CloudWatchMetrics must be an array")
    found = []
    for directive in directives:
        found.extend(_directive(root, directive, float(timestamp)))
    return found


def _directive(root: dict, directive: object, timestamp: float) -> list[Sample]:
    if not isinstance(directive, dict):
        raise InvalidEmf("a metric directive must be an object")
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
        raise InvalidEmf("Namespace must be a string of 1 to 255 characters")
    dimension_sets = directive.get("Dimensions")
    if not isinstance(dimension_sets, list):
        raise InvalidEmf("Dimensions must be an array of dimension sets")
    resolved = []
    for names in dimension_sets:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
            raise InvalidEmf(f"a dimension set must be an array of at most {MAX_DIMENSIONS} names")
        dimensions = []
        for name in names:
            value = root.get(name) if isinstance(name, str) else None
            if not isinstance(value, str):
                raise InvalidEmf(f"dimension {name!r} must name a root member whose value is a string")
            dimensions.append((name, value))
        resolved.append(tuple(sorted(dimensions)))
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
        raise InvalidEmf(f"Metrics must be an array of at most {MAX_METRICS} definitions")
    found = []
    for metric in metrics:
        name, unit, values = _metric(root, metric)
        found.extend(Sample(namespace, name, dimensions, values, unit, timestamp) for dimensions in resolved)
    return found


def _metric(root: dict, metric: object) -> tuple[str, str, tuple[float, ...]]:
    if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
        raise InvalidEmf("a metric definition must be an object with a Name")
    name = metric["Name"]
    unit = metric.get("Unit", "None")
    if unit not in UNITS:
        raise InvalidEmf(f"{name}: unit {unit!r} is not a CloudWatch unit")
    if metric.get("StorageResolution", 60) not in (1, 60):
        raise InvalidEmf(f"{name}: StorageResolution must be 1 or 60")
    value = root.get(name)
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > MAX_VALUES or not all(_number(v) for v in values):
        raise InvalidEmf(f"{name} must be a number or an array of at most {MAX_VALUES} numbers")
    return name, unit, tuple(float(v) for v in values)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
