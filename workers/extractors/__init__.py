"""Metadata extraction: from a stored object to the `metadata` of its record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredObject:
    """What HeadObject told us about the object being processed."""

    bucket: str
    key: str
    version_id: str | None
    size: int
    content_type: str
    etag: str


@dataclass(frozen=True)
class Extraction:
    metadata: dict[str, Any]
    thumbnail_key: str | None = None


def extract(obj: StoredObject) -> Extraction:
    """Describe the object. Raises `FileRejected` when the file cannot be accepted."""
    return Extraction(metadata={"kind": "binary", "size": obj.size, "declaredType": obj.content_type})
