"""The local CloudWatch's alarm evaluation against the user guide: the two
tables of "How alarm state is evaluated when data is missing" row by row,
statistics, aligned periods, the Metrics Insights subset and the metric math
subset (its tables for comparisons and IF row by row)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from contract.alarms import FAILED_SHARE_MIN_FILES, FAILED_SHARE_PERCENT, Insights, MetricMath, alarms
from contract.ingest import INGEST
from contract.names import Names
from local.cloudwatch import insights, metric_math
from local.cloudwatch.evaluation import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Rule,
    buckets,
    datapoints,
    period_start,
    state,
    statistic,
)
from local.cloudwatch.service import MetricStore, _Alarm

RETAIN = "retain"
# 0 is a good point, X a breaching one, - a missing one (the guide's notation);
# columns: MISSING, IGNORE, BREACHING, NOT BREACHING.
THREE_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("X - - - -", ALARM, RETAIN, ALARM, OK),
]
TWO_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
]
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


def points(row: str) -> list[float | None]:
    # Threshold 1, GreaterThanOrEqual: X is 5, 0 is 0.
    return [{"0": 0.0, "X": 5.0, "-": None}[mark] for mark in row.split()]


def cases(table: list, datapoints_to_alarm: int):
    for row, *expected in table:
        for treatment, outcome in zip(TREATMENTS, expected, strict=True):
            yield pytest.param(row, datapoints_to_alarm, treatment, outcome,
                               id=f"{datapoints_to_alarm}of3 {row} {treatment}")


@pytest.mark.parametrize("row, m, treatment, expected",
                         [*cases(THREE_OF_THREE, 3), *cases(TWO_OF_THREE, 2)])
def test_the_user_guides_missing_data_tables_row_by_row(row, m, treatment, expected):
    rule = Rule("GreaterThanOrEqualToThreshold", 1, periods=3, datapoints=m, missing=treatment)
    if expected == RETAIN:
        # Retaining is visible only as different outcomes from different current states.
        assert {state(rule, points(row), current) for current in (OK, ALARM, INSUFFICIENT_DATA)} == {
            OK, ALARM, INSUFFICIENT_DATA}
    else:
        for current in (OK, ALARM, INSUFFICIENT_DATA):
            assert state(rule, points(row), current) == expected


def test_breaching_points_need_not_be_consecutive_but_must_be_within_the_last_n():
    rule = Rule("GreaterThanOrEqualToThreshold", 1, periods=3, datapoints=2)
    assert state(rule, points("0 0 X 0 X"), OK) == ALARM
    # Only the newest three real points count: X 0 0.
    assert state(rule, points("X X X 0 0"), ALARM) == OK


@pytest.mark.parametrize("stat, expected", [
    ("Sum", 5050.0), ("Average", 50.5), ("Minimum", 1.0), ("Maximum", 100.0), ("SampleCount", 100.0),
    ("p99", 99.0), ("p50", 50.0), ("p100", 100.0), ("p99.5", 100.0),
])
def test_statistics_over_raw_values(stat, expected):
    assert statistic([float(v) for v in range(100, 0, -1)], stat) == expected


def test_an_unknown_statistic_is_refused():
    with pytest.raises(ValueError, match="unsupported statistic"):
        statistic([1.0], "Median")


def test_periods_are_clock_intervals_and_the_range_ends_with_the_period_being_filled():
    assert period_start(1_000_123.0, 300) == 999_900.0
    assert period_start(1_000_123.0, 60) == 1_000_080.0
    now = 10_000.0  # in the period [9900, 10200)
    samples = [(9_899.0, 1.0), (9_900.0, 2.0), (10_000.0, 3.0), (9_300.0, 4.0), (8_999.0, 8.0)]
    assert buckets(samples, now, 300, 3) == [[4.0], [1.0], [2.0, 3.0]]
    assert datapoints([[4.0], [], [2.0, 3.0]], "Sum") == [4.0, None, 5.0]


def test_every_alarm_query_and_expression_is_one_the_local_cloudwatch_evaluates():
    for spec in alarms(Names("local"), INGEST, "api", malware_scan=True):
        if isinstance(spec.source, Insights):
            insights.parse(spec.source.query)
        elif isinstance(spec.source, MetricMath):
            metric_math.parse(spec.source.expression, list(spec.source.metrics))


def test_schema_matches_exactly_its_dimension_set_and_where_filters_values():
    query = insights.parse('SELECT SUM(FilesFailed) FROM SCHEMA("Uploads", service, stack) '
                           "WHERE service = 'ingest' AND stack = 'local'")
    assert query.matches("Uploads", "FilesFailed", {"service": "ingest", "stack": "local"})
    # The per-code series carries one more dimension: not counted twice.
    assert not query.matches("Uploads", "FilesFailed", {"service": "ingest", "stack": "local", "code": "corrupt"})
    assert not query.matches("Uploads", "FilesFailed", {"service": "ingest", "stack": "prod"})
    assert not query.matches("Uploads", "FilesProcessed", {"service": "ingest", "stack": "local"})
    assert query.aggregate([1.0, 2.0, 3.0]) == 6.0
    bare = insights.parse('SELECT MAX(Latency) FROM "AWS/ApiGateway"')
    assert bare.matches("AWS/ApiGateway", "Latency", {"ApiId": "a", "Stage": "$default"})


@pytest.mark.parametrize("query", [
    'SELECT SUM(FilesFailed) FROM SCHEMA("Uploads", service) GROUP BY service',
    "SELECT SUM(FilesFailed) FROM SCHEMA(\"Uploads\", service) WHERE service != 'ingest'",
    "SELECT SUM(FilesFailed) FROM SCHEMA(\"Uploads\", service) WHERE service = 'a' OR service = 'b'",
    'SELECT MEDIAN(FilesFailed) FROM "Uploads"',
    'SELECT SUM(FilesFailed) FROM "Uploads" ORDER BY SUM() DESC LIMIT 5',
    "METRICS()",
])
def test_a_query_outside_the_subset_is_refused(query):
    with pytest.raises(insights.UnsupportedQuery):
        insights.parse(query)


# --- metric math ---------------------------------------------------------------------------
def series(row: str) -> list[float | None]:
    return [None if mark == "-" else float(mark) for mark in row.split()]


def evaluate(expression: str, **metrics: str) -> list[float | None]:
    return metric_math.parse(expression, list(metrics)).evaluate(
        {name: series(row) for name, row in metrics.items()})


# "Comparison and logical operators": metric1 [30, 20, 0, 0], metric2 [20, -, 20, -].
@pytest.mark.parametrize("expression, expected", [
    ("m1 < m2", "0 0 1 0"),
    ("m1 >= 30", "1 0 0 0"),
    ("m1 > 15 AND m2 > 15", "1 0 0 0"),
    ("m1 > 15 && m2 > 15", "1 0 0 0"),
    ("m1 > 25 OR m2 > 15", "1 0 1 0"),
])
def test_the_user_guides_comparison_table_row_by_row(expression, expected):
    assert evaluate(expression, m1="30 20 0 0", m2="20 - 20 -") == series(expected)


# "Using IF expressions": metric1 [1, 1, 0, 0, -], metric2 [30, -, 0, 0, 30], metric3 [0, 0, 20, -, 20].
@pytest.mark.parametrize("expression, expected", [
    ("IF(m1, m2, m3)", "30 0 20 - -"),
    ("IF(m1, 5, m3)", "5 5 20 - -"),
    ("IF(m1, m2, 5)", "30 0 5 5 -"),
    ("IF(m1, m2)", "30 0 - - -"),
])
def test_the_user_guides_if_tables_row_by_row(expression, expected):
    assert evaluate(expression, m1="1 1 0 0 -", m2="30 - 0 0 30", m3="0 0 20 - 20") == series(expected)


def test_arithmetic_treats_a_missing_value_as_zero_but_adds_no_period_that_neither_series_has():
    assert evaluate("m1 + m2", m1="1 - 3 -", m2="10 20 - -") == series("11 20 3 -")
    # A scalar applies to the points the series has.
    assert evaluate("100 * m1 - 1", m1="1 - 3") == series("99 - 299")
    assert evaluate("-m1 * 2 ^ 3", m1="3 -") == [-24.0, None]


def test_division_by_zero_drops_the_point():
    assert evaluate("m1 / m2", m1="1 2 3 -", m2="0 4 - 0") == [None, 0.5, None, None]
    assert evaluate("m1 / 0", m1="1 2") == [None, None]
    assert evaluate("m1 ^ 0.5", m1="4 -9") == [2.0, None]


def test_fill_gives_every_period_a_value_even_where_no_metric_has_one():
    assert evaluate("FILL(m1, 0)", m1="- 2 - -") == series("0 2 0 0")
    assert evaluate("FILL(m1, 0) + FILL(m2, 7)", m1="- - 1", m2="- 2 -") == series("7 2 8")


def test_the_failed_share_is_a_percentage_once_enough_files_were_handled_and_zero_otherwise():
    [spec] = [s for s in alarms(Names("local"), INGEST, "api") if s.signal == "files-failed"]
    expression = metric_math.parse(spec.source.expression, list(spec.source.metrics))
    assert set(spec.source.metrics) == {"m1", "m2"}
    below = FAILED_SHARE_MIN_FILES - 1
    # Failed, processed: none at all (no data, so no division by zero), failures
    # without a success, below the minimum, the healthy soak's share, a broken kind.
    failed = [None, 3.0, float(below), 12.0, 30.0]
    processed = [None, None, None, 188.0, 90.0]
    shares = expression.evaluate({"m1": failed, "m2": processed})
    assert shares == [0.0, 0.0, 0.0, 6.0, 25.0]
    rule = Rule(spec.comparison, spec.threshold, spec.periods, spec.datapoints, spec.missing)
    assert [rule.breaches(share) for share in shares] == [False, False, False, False, True]
    assert spec.threshold == FAILED_SHARE_PERCENT


def test_a_math_alarm_takes_each_metrics_datapoint_per_period_then_the_expression_per_period():
    [spec] = [s for s in alarms(Names("local"), INGEST, "api") if s.signal == "files-failed"]
    alarm = _Alarm(spec, "uploads-local-files-failed")
    failed, processed = spec.source.metrics["m1"], spec.source.metrics["m2"]
    store = MetricStore(keep_s=10 * spec.period_s)
    now = 100 * spec.period_s + 10.0
    previous = now - spec.period_s

    def put(metric, count: int, at: float, **extra: str) -> None:
        store.put(metric.namespace, metric.name, {**metric.dimensions, **extra}.items(), [1.0] * count, at)

    # The period before: three failures alone, under the minimum.
    put(failed, 3, previous)
    # This period: 10 of 20 failed, each also written per code (not the alarm's series).
    put(failed, 10, now)
    put(failed, 10, now, code="corrupt")
    put(processed, 10, now)
    assert alarm.datapoints(store, now) == [0.0, 0.0, 50.0]
    assert state(alarm.rule, alarm.datapoints(store, now), OK) == ALARM
    # A quiet period after it: FILL makes it 0%, so the page clears at once.
    assert alarm.datapoints(store, now + spec.period_s) == [0.0, 50.0, 0.0]
    assert state(alarm.rule, alarm.datapoints(store, now + spec.period_s), ALARM) == OK


def test_an_alarm_whose_expression_is_outside_the_subset_is_refused_when_it_is_loaded():
    [spec] = [s for s in alarms(Names("local"), INGEST, "api") if s.signal == "files-failed"]
    broken = dataclasses.replace(spec, source=dataclasses.replace(spec.source, expression="RATE(m1) * 100"))
    with pytest.raises(metric_math.UnsupportedExpression, match="'RATE'"):
        _Alarm(broken, "uploads-local-files-failed")


@pytest.mark.parametrize("expression, problem", [
    ("SUM(METRICS())", "function 'SUM'"),
    ("AVG(m1)", "function 'AVG'"),
    ('SEARCH(\'{Uploads} FilesFailed\', \'Sum\', 300)', "cannot read"),
    ("FILL(m1, REPEAT)", "FILL(series, number)"),
    ("FILL(m1, m2)", "FILL(series, number)"),
    ("if(m1 > 1, 1, 0)", "function 'if'"),
    ("m1 + m3", "'m3' is no metric of this alarm"),
    ("100 * 2", "is a scalar"),
    ("1 / 0 + m1", "division of constants by zero"),
    ("m1 % 2", "cannot read"),
    ("m1 +", "expected more"),
    ("(m1 + m2", "expected ')'"),
    ("IF(m1)", "IF takes"),
])
def test_an_expression_outside_the_subset_is_refused_with_what_is_wrong(expression, problem):
    with pytest.raises(metric_math.UnsupportedExpression, match=re.escape(problem)):
        metric_math.parse(expression, ["m1", "m2"])


def test_a_metric_id_must_start_with_a_lower_case_letter():
    with pytest.raises(metric_math.UnsupportedExpression, match="lower-case"):
        metric_math.parse("M1 + 1", ["M1"])
