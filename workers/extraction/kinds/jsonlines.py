"""JSON Lines (NDJSON): one JSON value per line. The record count, whether
every line is JSON, and the column types of the first records
(`columns.Records`), streamed in constant memory.

Text is JSON Lines when its first line is a whole object or array and the
next line opens another; a single record reads as a JSON document, which it
also is. Memory is one line, capped, plus one read chunk.
"""

from __future__ import annotations

import json

from workers.errors import FileRejected
from workers.extraction import textio
from workers.extraction.columns import Records
from workers.extraction.limits import STREAMED_BUDGET
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Opening

MAX_LINE_CHARS = 8 * 1024 * 1024

# Lines decoded between two checks of the deadline and the scan limit.
_LINES_PER_STEP = 1024


def opens_json_lines(start: str) -> bool:
    """True when `start` (text past a BOM and whitespace) opens with a line
    holding one whole object or array, followed by a line opening another."""
    first, newline, rest = start.partition("\n")
    following = rest.lstrip(" \t\r\n")
    if not newline or first[:1] not in ("{", "[") or following[:1] not in ("{", "["):
        return False
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return False
    return True


class _Lines:
    """How the lines read so far decoded."""

    def __init__(self) -> None:
        self.records = 0
        self.invalid = 0
        # A line nested past the parser's recursion limit may be valid JSON.
        self.undetermined = False
        self.types = Records()

    def add(self, line: str) -> None:
        try:
            value = json.loads(line)
        except ValueError:
            self.invalid += 1
            return
        except RecursionError:
            self.undetermined = True
            return
        self.records += 1
        self.types.add(value)

    def described(self, finished: bool) -> dict:
        valid = False if self.invalid else None if self.undetermined or not finished else True
        return {"invalidLines": self.invalid, "valid": valid,
                **self.types.described(self.records if finished and not self.undetermined else None)}


@extractor("jsonl", signatures=(Opening("application/x-ndjson", opens_json_lines),),
           streamed=True, budget=STREAMED_BUDGET)
def describe(source: Source) -> dict:
    text = textio.open_text(source.stream, source.sniffed.encoding, newline=None)
    lines = _Lines()
    while True:
        for _ in range(_LINES_PER_STEP):
            line = text.readline(MAX_LINE_CHARS + 1)
            if not line:
                return {"encoding": source.sniffed.encoding, "records": lines.records, **lines.described(True)}
            if len(line) > MAX_LINE_CHARS:
                raise FileRejected("too_large", f"The file has a line longer than {MAX_LINE_CHARS} characters")
            if line.strip():
                lines.add(line)
        source.deadline.check()
        scanned = source.stream.tell()
        if source.stop_scanning(scanned):
            return {"encoding": source.sniffed.encoding,
                    "recordsEstimated": round(lines.records * source.size / scanned), **lines.described(False)}
