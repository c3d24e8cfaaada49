"""Admission: the sniffed kind against the allowlist and the declared type.

A declared type that disagrees with the bytes is usually a mislabel (a PNG
saved as .jpg) and is kept alongside the sniffed one. It is an attack only when
active content poses as a passive type that clients render inline.
"""

from __future__ import annotations

from workers.errors import FileRejected
from workers.extraction import registry
from workers.extraction.sniff import EMPTY_MIME, Sniffed

# Active content (`registry.active_content`) declared as one of these types is
# a disguise (`type_mismatch`), not a mislabel.
DISGUISE_TARGET_TYPES = ("image/", "application/pdf")

_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
    "text/x-csv": "text/csv",
    "application/csv": "text/csv",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-m4a": "audio/mp4",
    "audio/mp3": "audio/mpeg",
    "audio/opus": "audio/ogg",
}
# Declared types that make no claim about the content.
_GENERIC = ("", "application/octet-stream", "binary/octet-stream")


def normalise(content_type: str) -> str:
    essence = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(essence, essence)


def admit(sniffed: Sniffed, declared: str) -> None:
    """Raise `type_mismatch` or `unsupported_type` for a file the worker must not accept."""
    declared = normalise(declared)
    if sniffed.kind in registry.active_content_kinds() and declared.startswith(DISGUISE_TARGET_TYPES):
        raise FileRejected(
            "type_mismatch",
            f"Declared as {declared} but the content is {sniffed.mime}, which could run in a viewer",
        )
    if sniffed.kind not in registry.accepted_kinds():
        raise FileRejected("unsupported_type", f"Files of type {sniffed.mime} are not accepted")


def mismatch(sniffed_mime: str, declared: str) -> bool:
    """True when the declared type names a different format than the bytes."""
    declared = normalise(declared)
    # Zero bytes contradict no declared type.
    if declared in _GENERIC or declared == sniffed_mime or sniffed_mime == EMPTY_MIME:
        return False
    # text/plain makes no claim beyond "readable text".
    return not (declared == "text/plain" and (sniffed_mime.startswith("text/") or sniffed_mime == "application/json"))
