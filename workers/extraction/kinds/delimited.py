"""CSV and TSV: delimiter, encoding, header, row count and column types,
streamed in constant memory.

Text is delimited when its rows agree on a delimiter (`_delimiter`).
The csv module does the quoting, so a quoted newline stays inside its row.
Column types come from the first rows, as many as a fixed number of cells
allows, so a wide table costs no more time than a narrow one; `typeSample`
says how many rows that was and whether they were the whole file.
Memory is one text chunk plus one row. The csv module holds a whole row before
it yields it, and its field size limit bounds one field, not how many there
are; so the lines it is fed are counted per row, and a row over the character
or field bound is refused before it is read any further.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from itertools import islice

from workers.errors import FileRejected
from workers.extraction import textio
from workers.extraction.columns import MAX_COLUMNS, MAX_NAME_CHARS, TYPED_CELLS, Column, text_type
from workers.extraction.limits import STREAMED_BUDGET
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Sample, Shape, Sniffed

MAX_FIELD_BYTES = 1024 * 1024

# Rows parsed between two checks of the deadline and the scan limit.
_ROWS_PER_STEP = 4096
# Rows typed however wide the table is.
_MIN_TYPED_ROWS = 100
# Room for one field at the field size limit and the rest of its row.
_MAX_ROW_CHARS = 2 * MAX_FIELD_BYTES
# Short fields cost far more memory than their characters (a str object
# each): a row of two-character fields at the character bound would hold
# about 40 MiB.
_MAX_FIELDS = 65_536

_DELIMITERS = ",;\t|"
# Rows that must agree on their field count before text counts as delimited.
_DELIMITED_MIN_ROWS = 2
_DELIMITED_CHECK_ROWS = 50
_DECLARED_DELIMITERS = {"text/csv": ",", "text/tab-separated-values": "\t"}

# Process-wide in the csv module; this is the only module that parses CSV.
csv.field_size_limit(MAX_FIELD_BYTES)


def _sniff(sample: Sample) -> Sniffed | None:
    """A table, when the sample reads as one. The declared type only breaks a
    tie between two harmless readings: a table with one column is also plain
    text."""
    delimiter = _delimiter(sample.text, sample.whole, sample.check) or _DECLARED_DELIMITERS.get(sample.declared)
    if delimiter == "\t":
        return Sniffed("tsv", "text/tab-separated-values", sample.encoding, delimiter)
    if delimiter is not None:
        return Sniffed("csv", "text/csv", sample.encoding, delimiter)
    return None


def _delimiter(text: str, whole: bool, check: Callable[[], None]) -> str | None:
    """The delimiter when the sample reads as a table: at least two rows, all
    with the same number (two or more) of fields. When several delimiters
    qualify, the one giving the most fields wins, then the earlier candidate.

    csv.Sniffer is not used: its regexes backtrack quadratically on crafted
    text (a 64 KiB sample of quotes and newlines takes minutes), while
    csv.reader is a linear state machine."""
    best, best_width = None, 1
    for candidate in _DELIMITERS:
        check()
        width = _table_width(text, candidate, whole)
        if width > best_width:
            best, best_width = candidate, width
    return best


def _table_width(text: str, delimiter: str, whole: bool) -> int:
    """The field count every checked row agrees on, or 0 when they do not."""
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    try:
        rows = list(islice(reader, _DELIMITED_CHECK_ROWS + 1))
    except csv.Error:
        return 0
    if len(rows) > _DELIMITED_CHECK_ROWS:
        # A row followed by another is complete.
        rows = rows[:_DELIMITED_CHECK_ROWS]
    elif not whole:
        # The sample may end inside a row, quoted newlines included.
        rows = rows[:-1]
    widths = {len(row) for row in rows if row}
    if len(rows) < _DELIMITED_MIN_ROWS or len(widths) != 1:
        return 0
    return widths.pop()


@extractor("csv", "tsv", signatures=(Shape(("csv", "tsv"), _sniff),),
           streamed=True, budget=STREAMED_BUDGET)
def describe(source: Source) -> dict:
    sniffed = source.sniffed
    rows = _rows(textio.open_text(source.stream, sniffed.encoding, newline=""), sniffed.delimiter)
    header = next(rows, [])
    metadata = {
        "delimiter": sniffed.delimiter,
        "encoding": sniffed.encoding,
        "columns": [name[:MAX_NAME_CHARS] for name in header[:MAX_COLUMNS]],
        "columnCount": len(header),
    }
    columns = [Column(name) for name in metadata["columns"]]
    typed = _type_rows(rows, columns, max(_MIN_TYPED_ROWS, TYPED_CELLS // max(1, len(columns))), source)
    metadata["columnTypes"] = [{"name": column.name, "type": column.type, "nulls": column.nulls}
                               for column in columns]
    count = typed
    while True:
        step = sum(1 for _ in islice(rows, _ROWS_PER_STEP))
        count += step
        if step < _ROWS_PER_STEP:
            return {**metadata, "rows": count, "typeSample": {"rows": typed, "wholeFile": count == typed}}
        source.deadline.check()
        scanned = source.stream.tell()
        if source.stop_scanning(scanned):
            return {**metadata, "rowsEstimated": round(count * source.size / scanned),
                    "typeSample": {"rows": typed, "wholeFile": False}}


def _type_rows(rows: Iterator[list[str]], columns: list[Column], limit: int, source: Source) -> int:
    """Type the first `limit` rows into `columns`; how many there were. A
    short row's missing cells are empty; cells past the header are not typed."""
    typed = 0
    for row in islice(rows, limit):
        for position, column in enumerate(columns):
            column.add(text_type(row[position]) if position < len(row) else None)
        typed += 1
        if typed % _ROWS_PER_STEP == 0:
            source.deadline.check()
    return typed


def _rows(text: io.TextIOBase, delimiter: str) -> Iterator[list[str]]:
    feed = _RowFeed(text, delimiter)
    for row in csv.reader(feed, delimiter=delimiter):
        feed.row_ended()
        yield row


class _RowFeed:
    """The lines csv.reader pulls, never more than one row's bound at a time.
    The reader pulls lines until a row ends, a quoted newline included, so
    counting between two rows bounds the row. Delimiters are counted in the
    raw text, quoted ones too: an upper bound on the fields, found without
    parsing twice."""

    def __init__(self, text: io.TextIOBase, delimiter: str) -> None:
        self._text = text
        self._delimiter = delimiter
        self.row_ended()

    def row_ended(self) -> None:
        self._chars = 0
        self._delimiters = 0

    def __iter__(self) -> _RowFeed:
        return self

    def __next__(self) -> str:
        line = self._text.readline(_MAX_ROW_CHARS + 1 - self._chars)
        if not line:
            raise StopIteration
        self._chars += len(line)
        self._delimiters += line.count(self._delimiter)
        if self._chars > _MAX_ROW_CHARS:
            raise FileRejected("too_large", f"The file has a row longer than {_MAX_ROW_CHARS} characters")
        if self._delimiters >= _MAX_FIELDS:
            raise FileRejected("too_large", f"The file has a row of more than {_MAX_FIELDS} fields")
        return line
