"""Accepted files without an extractor of their own: the size is all we claim."""

from __future__ import annotations

from workers.extraction.registry import Source, extractor


# An empty upload is a valid file with nothing to describe, not a corrupt one:
# an empty .txt or .csv is a legitimate thing to store.
@extractor("binary", "empty")
def describe(source: Source) -> dict:
    return {"size": source.size}
