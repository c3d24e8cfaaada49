"""Thumbnails: a small WebP per file of a kind that draws one, stored by the
worker beside the upload.

Unlike describing, drawing decodes the content, so it may read the whole
object; its reads are counted apart, within the file's time budget.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

SIZE = (256, 256)
QUALITY = 75
CONTENT_TYPE = "image/webp"


@dataclass(frozen=True)
class Thumbnail:
    """How a kind draws its files small: `wanted(metadata, size)` says whether
    this file gets a thumbnail, and `render` reads it from the stream, fetching
    at most `max_bytes`, and returns a WebP that fits in SIZE."""

    wanted: Callable[[dict, int], bool]
    render: Callable[[io.BufferedIOBase], bytes]
    max_bytes: int
