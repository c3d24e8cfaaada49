"""CSV and TSV: delimiter, encoding, header and row count, streamed in constant memory.

The csv module does the quoting, so a quoted newline stays inside its row.
Memory is one text chunk plus one row, and a row is bounded by the field size
limit, so an unterminated quote cannot swallow the file into memory.
"""

from __future__ import annotations

import csv
from itertools import islice

from workers import settings
from workers.extractors import textio
from workers.extractors.registry import Source, extractor

# Rows parsed between two checks of the deadline and the scan limit.
_ROWS_PER_STEP = 4096
# Header names kept on the record; a DynamoDB item is capped at 400 KB.
_MAX_COLUMNS = 200
_MAX_NAME_CHARS = 256

# Process-wide in the csv module; this is the only module that parses CSV.
csv.field_size_limit(settings.CSV_MAX_FIELD_BYTES)


@extractor("csv", "tsv")
def describe(source: Source) -> dict:
    sniffed = source.sniffed
    rows = csv.reader(textio.open_text(source.stream, sniffed.encoding, newline=""), delimiter=sniffed.delimiter)
    header = next(rows, [])
    metadata = {
        "delimiter": sniffed.delimiter,
        "encoding": sniffed.encoding,
        "columns": [name[:_MAX_NAME_CHARS] for name in header[:_MAX_COLUMNS]],
        "columnCount": len(header),
    }
    count = 0
    while True:
        step = sum(1 for _ in islice(rows, _ROWS_PER_STEP))
        count += step
        if step < _ROWS_PER_STEP:
            return {**metadata, "rows": count}
        source.deadline.check()
        scanned = source.stream.tell()
        if source.stop_scanning(scanned):
            return {**metadata, "rowsEstimated": round(count * source.size / scanned)}
