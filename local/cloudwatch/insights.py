"""The part of Metrics Insights our alarms use, parsed and evaluated; any
other query is refused when the local CloudWatch starts, not ignored.

Grammar (CloudWatch user guide, "Metrics Insights query components and
syntax", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html):
`SELECT FUNCTION(metricName) FROM namespace | SCHEMA(...) [WHERE labelKey
OPERATOR labelValue [AND ...]] [GROUP BY ...] [ORDER BY ...] [LIMIT n]`.
Supported here: the five functions, FROM SCHEMA("namespace", key, ...) (only
metrics whose dimensions are exactly those keys) or a bare namespace (any
dimensions), and WHERE with `=` joined by AND. An alarm's query must return
one series, so GROUP BY, ORDER BY and LIMIT are refused, as are `!=`, OR,
IN, LIKE and math on the result."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FUNCTIONS = {
    "SUM": sum,
    "AVG": lambda values: sum(values) / len(values),
    "MIN": min,
    "MAX": max,
    "COUNT": len,
}
_NAME = r'(?:"[^"]+"|[A-Za-z0-9_./$-]+)'
_QUERY = re.compile(
    rf"^\s*SELECT\s+(?P<function>\w+)\s*\(\s*(?P<metric>{_NAME})\s*\)\s+"
    rf"FROM\s+(?:SCHEMA\s*\(\s*(?P<schema>[^)]*)\)|(?P<namespace>{_NAME}))"
    rf"(?:\s+WHERE\s+(?P<where>.+?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(rf"^\s*(?P<key>{_NAME})\s*=\s*'(?P<value>[^']*)'\s*$")


class UnsupportedQuery(ValueError):
    """A query the local CloudWatch cannot evaluate as CloudWatch would."""


@dataclass(frozen=True)
class Query:
    function: str
    namespace: str
    metric: str
    # None: any dimensions (FROM namespace); else exactly these keys.
    schema: frozenset[str] | None
    where: Mapping[str, str]

    def matches(self, namespace: str, metric: str, dimensions: Mapping[str, str]) -> bool:
        if namespace != self.namespace or metric != self.metric:
            return False
        if self.schema is not None and set(dimensions) != self.schema:
            return False
        return all(dimensions.get(key) == value for key, value in self.where.items())

    def aggregate(self, values: Sequence[float]) -> float:
        return float(FUNCTIONS[self.function](values))


def parse(text: str) -> Query:
    match = _QUERY.match(text)
    if not match:
        raise UnsupportedQuery(f"not a query the local CloudWatch evaluates: {text!r} "
                               "(SELECT FUNC(metric) FROM SCHEMA(...) | namespace [WHERE key = 'value' AND ...])")
    function = match["function"].upper()
    if function not in FUNCTIONS:
        raise UnsupportedQuery(f"unknown function {match['function']!r} in {text!r}: one of {', '.join(FUNCTIONS)}")
    if match["schema"] is not None:
        parts = [part.strip() for part in match["schema"].split(",")]
        if not parts[0]:
            raise UnsupportedQuery(f"SCHEMA needs the namespace first: {text!r}")
        namespace, keys = _unquote(parts[0]), frozenset(_unquote(part) for part in parts[1:])
    else:
        namespace, keys = _unquote(match["namespace"]), None
    return Query(function, namespace, _unquote(match["metric"]), keys, _where(match["where"], text))


def _where(clause: str | None, text: str) -> dict[str, str]:
    if clause is None:
        return {}
    if re.search(r"\b(GROUP\s+BY|ORDER\s+BY|LIMIT|OR|IN|LIKE)\b", clause, re.IGNORECASE):
        raise UnsupportedQuery(f"only `key = 'value'` joined by AND is evaluated locally: {text!r}")
    conditions = {}
    for part in re.split(r"\s+AND\s+", clause, flags=re.IGNORECASE):
        condition = _CONDITION.match(part)
        if not condition:
            raise UnsupportedQuery(f"unsupported condition {part.strip()!r} in {text!r}")
        conditions[_unquote(condition["key"])] = condition["value"]
    return conditions


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith('"') and name.endswith('"') else name
