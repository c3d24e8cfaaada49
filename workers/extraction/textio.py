"""Deciding how a byte stream is text, and reading it as text in constant memory."""

from __future__ import annotations

import codecs
import io

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Tried in order on a BOM-less sample. cp1252 leaves five bytes undefined, so a
# file that fails it too is still text to latin-1, which maps every byte.
_FALLBACKS = ("utf-8", "cp1252", "latin-1")
# Control characters that never occur in text (everything below 0x20 except
# tab, newline, vertical tab, form feed, carriage return and escape).
_BINARY_BYTES = bytes(set(range(0x20)) - {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B})


def detect_encoding(sample: bytes) -> str | None:
    """The encoding of a text sample, or None when the sample is not text.
    The sample may end in the middle of a character."""
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    if any(byte in _BINARY_BYTES for byte in sample):
        return None
    for encoding in _FALLBACKS:
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    return None


def decode_sample(sample: bytes, encoding: str) -> str:
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)


def open_text(stream: io.BufferedIOBase, encoding: str, *, newline: str | None) -> io.TextIOWrapper:
    """Counting rows and lines does not need every character right; a stray
    undecodable byte past the sniffed sample must not fail the file."""
    return io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline=newline)
