"""The local CloudWatch's alarm evaluation against the user guide: the two
tables of "How alarm state is evaluated when data is missing" row by row,
statistics, aligned periods and the Metrics Insights subset."""

from __future__ import annotations

import pytest

from contract.alarms import alarms
from contract.ingest import INGEST
from contract.names import Names
from local.cloudwatch import insights
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


def test_every_alarm_query_is_one_the_local_cloudwatch_evaluates():
    for spec in alarms(Names("local"), INGEST, "api"):
        if hasattr(spec.source, "query"):
            insights.parse(spec.source.query)


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
