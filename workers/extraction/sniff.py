"""What a file is, from its first bytes; the declared Content-Type plays no part.

Binary formats are recognised by their magic numbers. Text is classified the
way a browser would treat it (WHATWG MIME sniffing for HTML), then as JSON,
delimited data or plain text.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from itertools import islice
from typing import Callable

from workers.extraction import textio

# Sniffing reads this much from the start of the object.
SNIFF_BYTES = 64 * 1024

EMPTY_MIME = "application/x-empty"


@dataclass(frozen=True)
class Sniffed:
    kind: str
    mime: str
    encoding: str | None = None
    delimiter: str | None = None


# Formats that no extractor of ours describes: recognised so that they are
# named (`binary`) or refused as active content (`executable`). Each extractor
# module declares its own formats' signatures (`registry.extractor`).
_OTHER_MAGIC: tuple[tuple[bytes, int, str, str], ...] = (
    # (signature, offset, kind, mime)
    (b"MZ", 0, "executable", "application/vnd.microsoft.portable-executable"),
    (b"\x7fELF", 0, "executable", "application/x-elf"),
    (b"\xfe\xed\xfa\xce", 0, "executable", "application/x-mach-binary"),
    (b"\xfe\xed\xfa\xcf", 0, "executable", "application/x-mach-binary"),
    (b"\xce\xfa\xed\xfe", 0, "executable", "application/x-mach-binary"),
    (b"\xcf\xfa\xed\xfe", 0, "executable", "application/x-mach-binary"),
    (b"\xca\xfe\xba\xbe", 0, "executable", "application/java-vm"),
    (b"\x1f\x8b", 0, "binary", "application/gzip"),
    (b"BZh", 0, "binary", "application/x-bzip2"),
    (b"7z\xbc\xaf\x27\x1c", 0, "binary", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", 0, "binary", "application/vnd.rar"),
    (b"ftyp", 4, "binary", "video/mp4"),
    (b"ID3", 0, "binary", "audio/mpeg"),
    (b"BM", 0, "binary", "image/bmp"),
)
# What text can read as, besides the kinds with an extractor.
_TEXT_KINDS = ("script", "svg", "html", "json", "tsv", "csv", "text")


def _magic() -> tuple[tuple[bytes, int, str, str], ...]:
    from workers.extraction import registry

    return (*registry.signatures(), *_OTHER_MAGIC)


def kinds() -> frozenset[str]:
    """Every kind `sniff` can answer."""
    return frozenset({kind for _, _, kind, _ in _magic()} | {"empty", "binary", *_TEXT_KINDS})

# WHATWG MIME Sniffing, "rules for identifying an unknown MIME type": each tag
# must be followed by a space or '>' to count.
_HTML_TAGS = re.compile(
    r"<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[ >]",
    re.IGNORECASE,
)
_SVG = re.compile(r"<svg[\s>]", re.IGNORECASE)
_DELIMITERS = ",;\t|"
# Rows that must agree on their field count before text counts as delimited.
_DELIMITED_MIN_ROWS = 2
_DELIMITED_CHECK_ROWS = 50


def sniff(head: bytes, declared: str = "", *, whole: bool = True, check: Callable[[], None] | None = None) -> Sniffed:
    """Classify the first bytes of an object (`whole` when they are all of it).
    `declared` only breaks a tie between two harmless readings of the same
    text: a table with one column is also plain text. `check` is called between
    steps of the text analysis, so a caller can count it against a deadline
    (by raising)."""
    if not head:
        return Sniffed("empty", EMPTY_MIME)
    for signature, offset, kind, mime in _magic():
        if head[offset : offset + len(signature)] == signature:
            if mime == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return Sniffed(kind, mime)
    encoding = textio.detect_encoding(head)
    if encoding is None:
        return Sniffed("binary", "application/octet-stream")
    return _sniff_text(textio.decode_sample(head, encoding), encoding, declared, whole, check or _no_check)


def _sniff_text(text: str, encoding: str, declared: str, whole: bool, check: Callable[[], None]) -> Sniffed:
    start = text.lstrip("\ufeff \t\r\n\f")
    lowered = start[:1024].lower()
    if lowered.startswith(("#!", "<?php")):
        return Sniffed("script", "text/x-script", encoding)
    if _SVG.match(start) or (lowered.startswith(("<?xml", "<!doctype svg")) and _SVG.search(start[:4096])):
        return Sniffed("svg", "image/svg+xml", encoding)
    if _HTML_TAGS.match(start):
        return Sniffed("html", "text/html", encoding)
    if start[:1] in ("{", "["):
        return Sniffed("json", "application/json", encoding)
    delimiter = _delimiter(text, whole, check)
    if delimiter is None and declared in ("text/csv", "text/tab-separated-values"):
        delimiter = "\t" if declared == "text/tab-separated-values" else ","
    if delimiter == "\t":
        return Sniffed("tsv", "text/tab-separated-values", encoding, delimiter)
    if delimiter is not None:
        return Sniffed("csv", "text/csv", encoding, delimiter)
    return Sniffed("text", "text/plain", encoding)


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


def _no_check() -> None:
    pass
