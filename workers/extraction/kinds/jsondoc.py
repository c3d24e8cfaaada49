"""JSON: the top-level shape, its first keys or its length, and whether it is
valid; for an array of objects, the column types of its first records
(`columns.Records`).

The top level is walked member by member; each member is decoded whole by the
json module (C speed), so memory is one member, capped, plus one read chunk.
Validity is undetermined (`valid: None`) when the scan stops early: past the
scan limit, at a member over the size cap, or at nesting deeper than the
parser's recursion limit.
"""

from __future__ import annotations

import io
import json

from workers.extraction import textio
from workers.extraction.columns import Records
from workers.extraction.kinds.jsonlines import opens_json_lines
from workers.extraction.limits import STREAMED_BUDGET, Deadline
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Opening

MAX_KEYS = 50
# One array element or object member is decoded whole; a bigger one ends the
# scan, leaving validity undetermined.
MAX_VALUE_BYTES = 8 * 1024 * 1024

_CHUNK_CHARS = 256 * 1024
_WHITESPACE = " \t\r\n"
# A decode error this far before the end of the buffer cannot be caused by the
# buffer ending (a cut literal such as `tru` reports its start).
_TRUNCATION_SLACK = 16
_MAX_KEY_CHARS = 256
_DECODER = json.JSONDecoder()


class _Invalid(Exception):
    pass


class _Undetermined(Exception):
    pass


class _Cursor:
    """A window over the text that grows only as far as one member needs."""

    def __init__(self, text: io.TextIOBase, deadline: Deadline) -> None:
        self._text = text
        self._deadline = deadline
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self._chars_read = 0

    def _fill(self) -> None:
        self._deadline.check()
        chunk = self._text.read(_CHUNK_CHARS)
        self._eof = not chunk
        self._chars_read += len(chunk)
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0

    def consumed(self, bytes_read: int) -> float:
        """Bytes behind the cursor, given the bytes read so far: the read-ahead
        window is large next to a scan limit, so it is not counted as scanned."""
        ahead = len(self._buffer) - self._pos
        return bytes_read * (self._chars_read - ahead) / max(1, self._chars_read)

    def peek(self) -> str:
        """The next non-whitespace character, or '' at the end."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buffer) or self._eof:
                return self._buffer[self._pos : self._pos + 1]
            self._fill()

    def take(self, expected: str) -> str:
        found = self.peek()
        if found not in expected or not found:
            raise _Invalid(f"expected one of {expected!r}, found {found!r}")
        self._pos += 1
        return found

    def value(self):
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._pos)
                # A number cut by the buffer end decodes fine but short.
                if end < len(self._buffer) or self._eof:
                    self._pos = end
                    return value
            except json.JSONDecodeError as error:
                definite = (error.pos < len(self._buffer) - _TRUNCATION_SLACK
                            and not error.msg.startswith("Unterminated"))
                if definite or self._eof:
                    raise _Invalid(error.msg) from error
            except RecursionError as error:
                raise _Undetermined("nested too deeply") from error
            if len(self._buffer) - self._pos > MAX_VALUE_BYTES:
                raise _Undetermined("a member is over the size cap")
            self._fill()


def _opens_json(start: str) -> bool:
    # Exclusive of JSON Lines, so the order openings are tried in is no matter.
    return start[:1] in ("{", "[") and not opens_json_lines(start)


@extractor("json", signatures=(Opening("application/json", _opens_json),),
           streamed=True, budget=STREAMED_BUDGET)
def describe(source: Source) -> dict:
    cursor = _Cursor(textio.open_text(source.stream, source.sniffed.encoding, newline=""), source.deadline)
    opener = cursor.peek()
    if opener not in ("{", "["):
        # Sniffing saw a bracket after whitespace JSON does not allow (a form feed).
        return {"topLevel": None, "valid": False}
    shape: dict = {"topLevel": "object", "keys": []} if opener == "{" else {"topLevel": "array", "length": 0}
    records = Records()
    cursor.take(opener)
    try:
        finished = _members(cursor, opener, shape, records, source)
        valid = cursor.peek() == "" if finished else None
    except _Invalid:
        finished, valid = False, False
    except _Undetermined:
        finished, valid = False, None
    return {**shape, **records.described(shape.get("length") if finished else None), "valid": valid}


def _members(cursor: _Cursor, opener: str, shape: dict, records: Records, source: Source) -> bool:
    """Walk the top level, filling `shape`. False when the scan limit stopped it."""
    closer = "}" if opener == "{" else "]"
    if cursor.peek() == closer:
        cursor.take(closer)
        return True
    count = 0
    while True:
        if opener == "{":
            key = cursor.value()
            if not isinstance(key, str):
                raise _Invalid("object keys must be strings")
            cursor.take(":")
            if len(shape["keys"]) < MAX_KEYS:
                shape["keys"].append(key[:_MAX_KEY_CHARS])
        value = cursor.value()
        count += 1
        if opener == "[":
            shape["length"] = count
            records.add(value)
        if cursor.take("," + closer) == closer:
            return True
        scanned = cursor.consumed(source.stream.tell())
        if source.stop_scanning(scanned):
            if opener == "[":
                del shape["length"]
                shape["lengthEstimated"] = round(count * source.size / scanned)
            return False
