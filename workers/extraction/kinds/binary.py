"""Accepted files without an extractor of their own: the size is all we claim.
Their formats are recognised so that they are named; bytes that nothing
recognises, not even as text, are `binary` too."""

from __future__ import annotations

from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import EMPTY_MIME, Empty, Magic, NotText


# An empty upload is a valid file with nothing to describe, not a corrupt one:
# an empty .txt or .csv is a legitimate thing to store.
@extractor("empty", signatures=(Empty(EMPTY_MIME),))
@extractor("binary", signatures=(
    Magic("application/gzip", {0: b"\x1f\x8b"}),
    Magic("application/x-bzip2", {0: b"BZh"}),
    Magic("application/x-7z-compressed", {0: b"7z\xbc\xaf\x27\x1c"}),
    Magic("application/vnd.rar", {0: b"Rar!\x1a\x07"}),
    Magic("image/bmp", {0: b"BM"}),
    NotText("application/octet-stream"),
))
def describe(source: Source) -> dict:
    return {"size": source.size}
