"""The part of metric math our alarms use, parsed and evaluated per period;
any other expression is refused when the local CloudWatch starts, not ignored.

From the user guide, "Using math expressions with CloudWatch metrics"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html):

- arithmetic `+ - * / ^` and unary minus: "Missing values in a time series
  are treated as 0" (a timestamp with no value in either series has no
  value in the result), and "if the value of a data point causes a function
  to attempt to divide by zero, the data point is dropped";
- comparisons `== != <= >= < >` and `AND`/`&&`, `OR`/`||` give 0 or 1 per
  point; between two series, a value only one of them has is compared with 0;
- `IF(condition, trueValue[, falseValue])`, per the guide's "Using IF
  expressions": no condition point, no result point; a true point takes the
  true value (0 where that series has none); a false point takes the false
  value, or is dropped where there is none;
- `FILL(series, scalar)`: every period of the range gets a value;
- functions in upper case, ids of the alarm's metrics starting in lower case,
  and a final result that is one time series.

Refused: every other function (SUM, AVG, METRICS, SEARCH, RATE, ...; the
guide advises against the scalar ones in alarms, and SEARCH cannot alarm),
FILL with REPEAT, LINEAR or a series, ids the alarm does not define, and an
expression whose result is a scalar.

A series is a list of per-period values over the alarm's evaluation range,
oldest first, None where the period has no value; a scalar is a float."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Series = list[float | None]
Value = float | Series


class UnsupportedExpression(ValueError):
    """An expression the local CloudWatch cannot evaluate as CloudWatch would."""


_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>==|!=|<=|>=|&&|\|\||[-+*/^<>(),]))")
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}
_LOGICAL: dict[str, Callable[[float, float], bool]] = {
    "AND": lambda a, b: bool(a) and bool(b), "&&": lambda a, b: bool(a) and bool(b),
    "OR": lambda a, b: bool(a) or bool(b), "||": lambda a, b: bool(a) or bool(b),
}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "^": operator.pow,
}
FUNCTIONS = ("IF", "FILL")


def _apply(op: str, left: float, right: float) -> float | None:
    if op in _ARITHMETIC:
        try:
            value = _ARITHMETIC[op](left, right)
        except (ZeroDivisionError, OverflowError):
            # "the data point is dropped"; so is one too large to be a number.
            return None
        # A negative number to a fractional power has no real value: no point either.
        return None if isinstance(value, complex) else float(value)
    table = _COMPARISONS if op in _COMPARISONS else _LOGICAL
    return 1.0 if table[op](left, right) else 0.0


# --- the tree ----------------------------------------------------------------------------
class _Node:
    def evaluate(self, metrics: Mapping[str, Series], size: int) -> Value:
        raise NotImplementedError


@dataclass(frozen=True)
class _Number(_Node):
    value: float

    def evaluate(self, metrics, size):
        return self.value


@dataclass(frozen=True)
class _Id(_Node):
    name: str

    def evaluate(self, metrics, size):
        return list(metrics[self.name])


@dataclass(frozen=True)
class _Negate(_Node):
    operand: _Node

    def evaluate(self, metrics, size):
        value = self.operand.evaluate(metrics, size)
        if isinstance(value, float):
            return -value
        return [None if point is None else -point for point in value]


@dataclass(frozen=True)
class _Binary(_Node):
    op: str
    left: _Node
    right: _Node

    def evaluate(self, metrics, size):
        left, right = self.left.evaluate(metrics, size), self.right.evaluate(metrics, size)
        if isinstance(left, float) and isinstance(right, float):
            value = _apply(self.op, left, right)
            if value is None:
                raise UnsupportedExpression(f"a division of constants by zero: {left:g} / {right:g}")
            return value
        if isinstance(left, float) or isinstance(right, float):
            # A scalar applies to the points the series has; it adds none.
            series, scalar_left = (right, True) if isinstance(left, float) else (left, False)
            scalar = left if scalar_left else right
            return [None if point is None else
                    _apply(self.op, scalar, point) if scalar_left else _apply(self.op, point, scalar)
                    for point in series]
        return [None if a is None and b is None else _apply(self.op, a or 0.0, b or 0.0)
                for a, b in zip(left, right, strict=True)]


@dataclass(frozen=True)
class _If(_Node):
    condition: _Node
    true: _Node
    false: _Node | None

    def evaluate(self, metrics, size):
        condition = self.condition.evaluate(metrics, size)
        true = self.true.evaluate(metrics, size)
        false = None if self.false is None else self.false.evaluate(metrics, size)
        if isinstance(condition, float):
            chosen = true if condition else false
            if chosen is None:
                return [None] * size
            return [chosen] * size if isinstance(chosen, float) else chosen
        result: Series = []
        for index, point in enumerate(condition):
            if point is None:
                result.append(None)
            elif point:
                value = true if isinstance(true, float) else true[index]
                result.append(0.0 if value is None else value)
            elif false is None:
                result.append(None)
            else:
                result.append(false if isinstance(false, float) else false[index])
        return result


@dataclass(frozen=True)
class _Fill(_Node):
    series: _Node
    value: float

    def evaluate(self, metrics, size):
        series = self.series.evaluate(metrics, size)
        if isinstance(series, float):
            raise UnsupportedExpression("FILL takes a time series")
        return [self.value if point is None else point for point in series]


# --- the parser --------------------------------------------------------------------------
# Loosest first; each level's operators are left-associative except `^`.
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("OR", "||"), ("AND", "&&"), tuple(_COMPARISONS), ("+", "-"), ("*", "/"),
)


class _Parser:
    def __init__(self, text: str, ids: frozenset[str]) -> None:
        self.text = text
        self.ids = ids
        self.tokens = _tokens(text)
        self.at = 0

    def refuse(self, why: str) -> UnsupportedExpression:
        return UnsupportedExpression(f"{why} in {self.text!r}: the local CloudWatch evaluates "
                                     "+ - * / ^, comparisons, AND, OR, IF(...) and FILL(series, number) "
                                     f"over the alarm's metrics ({', '.join(sorted(self.ids))})")

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            wanted = repr(expected) if expected else "more"
            raise self.refuse(f"expected {wanted} at the end" if token is None
                              else f"expected {wanted}, found {token!r}")
        self.at += 1
        return token

    def parse(self) -> _Node:
        node = self.level(0)
        if self.peek() is not None:
            raise self.refuse(f"unexpected {self.peek()!r}")
        return node

    def level(self, depth: int) -> _Node:
        if depth == len(_LEVELS):
            return self.power()
        node = self.level(depth + 1)
        while self.peek() in _LEVELS[depth]:
            op = self.take()
            node = _Binary(op, node, self.level(depth + 1))
        return node

    def power(self) -> _Node:
        base = self.unary()
        if self.peek() == "^":
            self.take()
            return _Binary("^", base, self.power())
        return base

    def unary(self) -> _Node:
        if self.peek() == "-":
            self.take()
            return _Negate(self.unary())
        return self.atom()

    def atom(self) -> _Node:
        token = self.take()
        if token == "(":
            node = self.level(0)
            self.take(")")
            return node
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            return _Number(float(token))
        if self.peek() == "(":
            return self.call(token)
        if token in self.ids:
            return _Id(token)
        if token[0].islower():
            raise self.refuse(f"{token!r} is no metric of this alarm")
        raise self.refuse(f"unexpected {token!r}")

    def call(self, name: str) -> _Node:
        if name not in FUNCTIONS:
            raise self.refuse(f"function {name!r} is not evaluated locally")
        self.take("(")
        arguments = [self.level(0)]
        while self.peek() == ",":
            self.take()
            arguments.append(self.level(0))
        self.take(")")
        if name == "IF":
            if len(arguments) not in (2, 3):
                raise self.refuse("IF takes a condition, a true value and an optional false value")
            return _If(arguments[0], arguments[1], arguments[2] if len(arguments) == 3 else None)
        if len(arguments) != 2 or not isinstance(arguments[1], _Number):
            raise self.refuse("FILL is evaluated locally only as FILL(series, number)")
        return _Fill(arguments[0], arguments[1].value)


def _tokens(text: str) -> list[str]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if not match:
            if text[at:].strip():
                raise UnsupportedExpression(f"cannot read {text[at:].strip()[:20]!r} in {text!r}")
            break
        tokens.append(match.group(match.lastgroup))
        at = match.end()
    return tokens


@dataclass(frozen=True)
class Expression:
    text: str
    ids: frozenset[str]
    _root: _Node

    def evaluate(self, metrics: Mapping[str, Sequence[float | None]]) -> Series:
        """The expression's value per period, from each metric's datapoints
        over the same periods (oldest first, None where a period has none)."""
        sizes = {len(series) for series in metrics.values()}
        if set(metrics) != self.ids or len(sizes) != 1:
            raise ValueError(f"{self.text!r} needs one series per metric over the same periods")
        result = self._root.evaluate({name: list(series) for name, series in metrics.items()}, sizes.pop())
        assert not isinstance(result, float), "parse() refuses a scalar result"
        return result


def parse(text: str, ids: Sequence[str]) -> Expression:
    """`ids`: the alarm's metrics, as the expression names them."""
    for name in ids:
        if not re.fullmatch(r"[a-z][A-Za-z0-9_]*", name):
            raise UnsupportedExpression(f"metric id {name!r} must start with a lower-case letter")
    names = frozenset(ids)
    root = _Parser(text, names).parse()
    # A probe over one period tells a series from a scalar: only a series may be watched.
    if isinstance(root.evaluate({name: [1.0] for name in names}, 1), float):
        raise UnsupportedExpression(f"{text!r} is a scalar; an alarm watches one time series")
    return Expression(text, names, root)
