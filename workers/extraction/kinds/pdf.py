"""PDF: page count, document info and version, from the trailer and the objects
it points at; content streams are never read.

An encrypted PDF with an empty user password (owner-password protection only)
opens like any other. Without the password, strings and streams stay
encrypted, but the version and the page count (a plain integer in the page
tree) are still readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from workers.errors import FileRejected
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Magic

_MAX_TEXT_CHARS = 512
# The page tree can live in compressed object streams, which pypdf inflates
# whole. Its own cap (75 MB) is held about twice over, past a PDF's memory
# budget; real object streams are a few megabytes at most.
_MAX_INFLATED_BYTES = 16 * 1024 * 1024

if TYPE_CHECKING:
    from pypdf import PdfReader


def _pypdf() -> None:
    import pypdf  # noqa: F401 - imported ahead of use (registry.load)


@extractor("pdf", signatures=(Magic("application/pdf", {0: b"%PDF-"}),), library=_pypdf)
def describe(source: Source) -> dict:
    from pypdf import apply_configuration
    from pypdf.errors import LimitReachedError

    try:
        with apply_configuration(zlib_maximum_output_length=_MAX_INFLATED_BYTES):
            return _describe(source)
    except LimitReachedError as error:
        raise FileRejected("too_large", f"A compressed part inflates past {_MAX_INFLATED_BYTES} bytes") from error


def _describe(source: Source) -> dict:
    from pypdf import PdfReader

    reader = PdfReader(source.stream, strict=False)
    metadata = {
        "pdfVersion": reader.pdf_header.removeprefix("%PDF-"),
        "encrypted": reader.is_encrypted,
        "pages": None,
        "title": None,
        "author": None,
        "producer": None,
        "creationDate": None,
    }
    if reader.is_encrypted and not _opens_without_password(reader):
        return {**metadata, "pages": _page_count_unopened(reader)}
    info = reader.metadata
    source.deadline.check()
    metadata["pages"] = len(reader.pages)
    if info is not None:
        metadata.update(
            title=_text(info.title),
            author=_text(info.author),
            producer=_text(info.producer),
            creationDate=_date(info),
        )
    return metadata


def _opens_without_password(reader: PdfReader) -> bool:
    from pypdf import PasswordType
    from pypdf.errors import DependencyError

    try:
        return reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except (DependencyError, NotImplementedError):
        # AES needs a crypto library the Lambda zip does not ship.
        return False


def _page_count_unopened(reader: PdfReader) -> int | None:
    """/Root/Pages/Count of a file we cannot decrypt. Integers are never
    encrypted, so the page tree's count reads fine raw; pypdf reads raw objects
    only with the switch it uses for the /Encrypt dictionary itself."""
    from pypdf.errors import FileNotDecryptedError
    from pypdf.generic import DictionaryObject

    reader._override_encryption = True
    try:
        catalog = reader.trailer["/Root"].get_object()
        tree = catalog["/Pages"].get_object() if isinstance(catalog, DictionaryObject) else None
        count = tree.get("/Count") if isinstance(tree, DictionaryObject) else None
    except (FileNotDecryptedError, KeyError, ValueError, AttributeError):
        return None
    finally:
        reader._override_encryption = False
    return int(count) if isinstance(count, int) else None


def _text(value) -> str | None:
    return str(value)[:_MAX_TEXT_CHARS] if value else None


def _date(info) -> str | None:
    """ISO 8601 when the PDF date parses, else the raw string as written."""
    try:
        created = info.creation_date
    except ValueError:
        return _text(info.creation_date_raw)
    return created.isoformat() if isinstance(created, datetime) else None
