"""Metadata extraction: from a stored object to the `metadata` of its record.
`pipeline` runs it, `kinds/` holds one extractor module per kind of file, and
`isolated` runs it all in a child process with hard limits."""

from workers.extraction.pipeline import Extraction, StoredObject, extract

__all__ = ["Extraction", "StoredObject", "extract"]
