"""Column types inferred from the values a tabular kind scanned.

A column's type is the narrowest one every non-empty value fits: integer
widens to number, date to datetime, and anything else mixed is a string.
A column whose every value was empty has no type (None). Text cells are
classified by their spelling (`text_type`); JSON values by their own type,
and strings among them by their spelling too, so an ISO date is a date.
"""

from __future__ import annotations

import re
from datetime import date, datetime

# Spellings of "no value" in exported tables, compared case-insensitively.
_EMPTY_CELLS = frozenset({"", "null", "na", "n/a", "none", "nil"})
_BOOLEANS = frozenset({"true", "false", "yes", "no"})
# A leading zero makes an identifier (a postcode, a phone number), not a number.
_INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_NUMBER = re.compile(r"[+-]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
                       r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?")
# Values longer than this are strings: no date or number is this long, and a
# regex over a megabyte field would spend the budget for nothing.
_MAX_TYPED_CHARS = 64

# Cells typed per file: about a tenth of a second of classifying, so a wide
# table types fewer rows in the same time as a narrow one.
TYPED_CELLS = 100_000
# Columns kept on the record, and the characters of each name; a DynamoDB
# item is capped at 400 KB.
MAX_COLUMNS = 200
MAX_NAME_CHARS = 256

_WIDENS = {frozenset({"integer", "number"}): "number", frozenset({"date", "datetime"}): "datetime"}


def text_type(value: str) -> str | None:
    """The type a text cell spells, or None when it spells no value."""
    cell = value.strip()
    if len(cell) > _MAX_TYPED_CHARS:
        return "string"
    if cell.lower() in _EMPTY_CELLS:
        return None
    if cell.lower() in _BOOLEANS:
        return "boolean"
    if _INTEGER.fullmatch(cell):
        return "integer"
    if _NUMBER.fullmatch(cell):
        return "number"
    if _DATE.fullmatch(cell):
        return "date" if _parses(date.fromisoformat, cell) else "string"
    if _DATETIME.fullmatch(cell):
        return "datetime" if _parses(datetime.fromisoformat, cell) else "string"
    return "string"


def json_type(value: object) -> str | None:
    """The type of a decoded JSON value, or None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        # JSON says what a number or a boolean is; a string only hides a date.
        spelled = text_type(value)
        return spelled if spelled in ("date", "datetime") else "string"
    return "array" if isinstance(value, list) else "object"


def _parses(parse, cell: str) -> bool:
    try:
        parse(cell)
    except ValueError:
        return False
    return True


class Column:
    """What one column's values were seen to be."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen = 0
        self.nulls = 0
        self._types: set[str] = set()

    def add(self, kind: str | None) -> None:
        self.seen += 1
        if kind is None:
            self.nulls += 1
        else:
            self._types.add(kind)

    @property
    def type(self) -> str | None:
        if len(self._types) <= 1:
            return next(iter(self._types), None)
        return _WIDENS.get(frozenset(self._types), "string")


class Records:
    """The union of the keys of JSON objects, each with its type, how many
    objects have it, and how many of those hold null. Only the first objects
    are typed, up to `TYPED_CELLS` members; a value that is not an object
    means the items are not records, and nothing is reported."""

    def __init__(self) -> None:
        self.rows = 0
        self._cells = 0
        self._objects = True
        self._columns: dict[str, Column] = {}

    def add(self, value: object) -> None:
        if self._cells >= TYPED_CELLS or not self._objects:
            return
        if not isinstance(value, dict):
            self._objects = False
            return
        self.rows += 1
        for key, member in value.items():
            self._cells += 1
            name = key[:MAX_NAME_CHARS]
            column = self._columns.get(name)
            if column is None and len(self._columns) < MAX_COLUMNS:
                column = self._columns[name] = Column(name)
            if column is not None:
                column.add(json_type(member))

    def described(self, rows: int | None) -> dict:
        """The column types, given how many items there were (None when the
        scan did not reach the end)."""
        if not self._objects or not self.rows:
            return {}
        columns = [{"name": column.name, "type": column.type, "present": column.seen, "nulls": column.nulls}
                   for column in self._columns.values()]
        return {"columnTypes": columns, "typeSample": {"rows": self.rows, "wholeFile": rows == self.rows}}
