"""How CloudWatch turns raw values into an alarm state, as the user guide
describes it ("Using Amazon CloudWatch alarms": *Evaluating an alarm* and
*How alarm state is evaluated when data is missing*,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html).

Pure functions of values and times: the local CloudWatch (alarms.py) feeds
them what the stack published, tests/local/test_alarm_evaluation.py feeds
them the guide's tables row by row."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

MISSING = "missing"
IGNORE = "ignore"
BREACHING = "breaching"
NOT_BREACHING = "notBreaching"
TREATMENTS = (MISSING, IGNORE, BREACHING, NOT_BREACHING)

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
# The guide's example: 3 evaluation periods, "CloudWatch retrieves the 5 most
# recent data points". It gives no other size, so the range is N + 2 for every N.
EXTRA_POINTS = 2


def period_start(moment: float, period_s: int) -> float:
    """The start of the period holding `moment`. Periods are clock intervals:
    a 5-minute period starts at :00, :05, ... (GetMetricData's StartTime is
    "rounded down to the nearest 5-minute clock interval"; a 10-second period
    to "even 10-second divisions of a minute"), so they are multiples of the
    period since the epoch for every period that divides an hour."""
    return math.floor(moment / period_s) * period_s


def statistic(values: Sequence[float], stat: str) -> float:
    """One statistic of one period's raw values (never empty)."""
    if stat == "SampleCount":
        return float(len(values))
    if stat == "Sum":
        return float(sum(values))
    if stat == "Average":
        return float(sum(values)) / len(values)
    if stat == "Minimum":
        return float(min(values))
    if stat == "Maximum":
        return float(max(values))
    match = PERCENTILE.match(stat)
    if not match:
        raise ValueError(f"unsupported statistic {stat!r}")
    # Nearest rank: pNN is the smallest value that NN% of the values are at or below.
    ordered = sorted(values)
    rank = max(1, math.ceil(float(match.group(1)) / 100 * len(ordered)))
    return float(ordered[rank - 1])


def check_statistic(stat: str) -> None:
    if stat not in STATISTICS and not PERCENTILE.match(stat):
        raise ValueError(f"unsupported statistic {stat!r}: one of {', '.join(STATISTICS)} or pNN")


@dataclass(frozen=True)
class Rule:
    """When an alarm breaches: the comparison, threshold, M of N and missing data."""

    comparison: str
    threshold: float
    periods: int
    datapoints: int
    missing: str = MISSING

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"unsupported comparison {self.comparison!r}")
        if self.missing not in TREATMENTS:
            raise ValueError(f"unsupported TreatMissingData {self.missing!r}")
        if not 1 <= self.datapoints <= self.periods:
            raise ValueError("DatapointsToAlarm must be between 1 and EvaluationPeriods")

    @property
    def range_size(self) -> int:
        return self.periods + EXTRA_POINTS

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison](value, self.threshold)


def state(rule: Rule, points: Sequence[float | None], current: str) -> str:
    """The alarm's next state from the evaluation range, oldest first, None
    where a period has no data.

    The guide: with at least N real points, the N most recent decide and the
    missing-data setting is not used. With fewer, the real points are all kept
    and missing ones fill the rest, "as few times as possible"; then fewer
    than M breaching means OK, else ALARM. `breaching` and `notBreaching` fill
    with breaching and good points. Its tables fix what `missing` and `ignore`
    do, and this reproduces every row: a real good point among them settles
    OK; M breaching settle ALARM; with no real point `missing` gives
    INSUFFICIENT_DATA and `ignore` keeps the state; with breaching points
    fewer than M, `missing` gives ALARM only when the filled points come
    after them (the sixth row, "the oldest evaluated data point is breaching
    and there aren't any non-breaching data points"), else INSUFFICIENT_DATA,
    and `ignore` keeps the state."""
    assert len(points) == rule.range_size, "the evaluation range has a fixed size"
    real = [(index, value) for index, value in enumerate(points) if value is not None]
    if len(real) >= rule.periods:
        breaching = sum(rule.breaches(value) for _, value in real[-rule.periods:])
        return ALARM if breaching >= rule.datapoints else OK
    fill = rule.periods - len(real)
    breaching = sum(rule.breaches(value) for _, value in real)
    if rule.missing == BREACHING:
        breaching += fill
    if breaching >= rule.datapoints:
        return ALARM
    if rule.missing in (BREACHING, NOT_BREACHING) or breaching < len(real):
        return OK
    if rule.missing == IGNORE:
        return current
    if not real:
        return INSUFFICIENT_DATA
    # The filled points are the most recent missing periods: after the real ones or not.
    missing_slots = [index for index, value in enumerate(points) if value is None][-fill:]
    return ALARM if real[0][0] < missing_slots[0] else INSUFFICIENT_DATA


def buckets(samples: Iterable[tuple[float, float]], now: float, period_s: int, count: int) -> list[list[float]]:
    """Raw values by period for the `count` periods up to the one holding
    `now` (itself included: a period is evaluated while it fills), oldest first."""
    last = period_start(now, period_s)
    first = last - (count - 1) * period_s
    found: list[list[float]] = [[] for _ in range(count)]
    for moment, value in samples:
        if first <= moment < last + period_s:
            found[int((moment - first) // period_s)].append(value)
    return found


def datapoints(values_by_period: Sequence[Sequence[float]], stat: str) -> list[float | None]:
    return [statistic(values, stat) if values else None for values in values_by_period]
