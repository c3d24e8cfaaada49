"""Client-declared file names, made safe for an S3 key and for a download header.

The name a client declares is kept verbatim for display; these helpers derive the
two places where a hostile name could do harm: the object key (which must stay
inside the caller's own prefix) and the Content-Disposition of a download.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

MAX_FILENAME_BYTES = 255


_SEPARATORS = ("/", "\\")
# Cc: control characters; Cf: invisible format characters such as bidi overrides,
# which can disguise an extension; Cs: lone surrogates, which UTF-8 cannot encode.
_STRIPPED_CATEGORIES = {"Cc", "Cf", "Cs"}
# Used when nothing usable is left, so every declared name still gets a key.
FALLBACK_NAME = "file"
# An extension longer than this is treated as part of the stem when truncating.
_MAX_EXTENSION_BYTES = 16


def safe_name(declared: str) -> str:
    """The last segment of an upload's key: no separators, control characters,
    `..` or dots alone, at most MAX_FILENAME_BYTES of UTF-8, unicode kept."""
    name = unicodedata.normalize("NFC", declared)
    name = "".join(
        ch for ch in name if ch not in _SEPARATORS and unicodedata.category(ch) not in _STRIPPED_CATEGORIES
    )
    # Repeat until stable: removing one ".." can join two dots into a new one.
    while ".." in name:
        name = name.replace("..", "")
    name = name.strip()
    # A segment of dots alone is a dot segment to a browser, which drops it
    # from the URL, so the presigned signature no longer matches.
    if not name.strip("."):
        return FALLBACK_NAME
    return _truncate(name, MAX_FILENAME_BYTES)


def _truncate(name: str, limit: int) -> str:
    """Cut to `limit` UTF-8 bytes on a character boundary, keeping a short
    extension so the file still opens with the right program."""
    if len(name.encode()) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    suffix = dot + extension
    if not stem or len(suffix.encode()) > _MAX_EXTENSION_BYTES:
        stem, suffix = name, ""
    budget = limit - len(suffix.encode())
    return stem.encode()[:budget].decode(errors="ignore") + suffix


def attachment_disposition(display_name: str) -> str:
    """Content-Disposition for a download (RFC 6266): always an attachment, so an
    uploaded HTML or SVG file never renders in the API's or bucket's origin.
    `filename*` carries the real name; `filename` is an ASCII fallback for old clients."""
    name = safe_name(display_name)
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
