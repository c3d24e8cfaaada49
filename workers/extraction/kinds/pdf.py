"""PDF: page count, document info and version, from the trailer and the objects
it points at; content streams are never read to describe one.

The thumbnail is the first page, rendered by PDFium (pypdfium2) from the
ranged reader: PDFium loads the cross-reference table and then only the
objects the page uses. An encrypted PDF gets none, and its metadata says so
(`preview`): rendering it would mean decrypting it.

An encrypted PDF with an empty user password (owner-password protection only)
opens like any other. Without the password, strings and streams stay
encrypted, but the version and the page count (a plain integer in the page
tree) are still readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from workers.errors import FileRejected
from workers.extraction import thumbnail
from workers.extraction.limits import MiB
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Magic

_MAX_TEXT_CHARS = 512
# The page tree can live in compressed object streams, which pypdf inflates
# whole. Its own cap (75 MB) is held about twice over, past a PDF's memory
# budget; real object streams are a few megabytes at most.
_MAX_INFLATED_BYTES = 16 * 1024 * 1024

# What drawing the first page may fetch: its objects, fonts and images.
PREVIEW_MAX_BYTES = 32 * MiB
# Objects a first page may reach through its resources before it is not drawn.
_MAX_PAGE_OBJECTS = 10_000

if TYPE_CHECKING:
    import io

    from pypdf import PdfReader


def _pypdf() -> None:
    import pypdf  # noqa: F401 - imported ahead of use (registry.load)
    import pypdfium2  # noqa: F401


def _wants_preview(metadata: dict, size: int) -> bool:
    return metadata["preview"] == "first page"


def _first_page(stream: io.BufferedIOBase) -> bytes:
    import io

    import pypdfium2

    document = pypdfium2.PdfDocument(stream)
    try:
        page = document[0]
        # The longer side drawn at the thumbnail's size, whatever the MediaBox
        # claims: a page declared a mile wide costs the same to draw.
        scale = max(thumbnail.SIZE) / max(*page.get_size(), 1.0)
        picture = page.render(scale=scale, may_draw_forms=False).to_pil()
        picture.thumbnail(thumbnail.SIZE)
        out = io.BytesIO()
        picture.convert("RGB").save(out, format="WEBP", quality=thumbnail.QUALITY)
        return out.getvalue()
    finally:
        document.close()


@extractor(
    "pdf",
    signatures=(Magic("application/pdf", {0: b"%PDF-"}),),
    thumbnail=thumbnail.Thumbnail(wanted=_wants_preview, render=_first_page, max_bytes=PREVIEW_MAX_BYTES),
    library=_pypdf,
)
def describe(source: Source) -> dict:
    from pypdf import apply_configuration
    from pypdf.errors import LimitReachedError

    try:
        with apply_configuration(zlib_maximum_output_length=_MAX_INFLATED_BYTES):
            return _describe(source)
    except LimitReachedError as error:
        raise FileRejected("too_large", f"A compressed part inflates past {_MAX_INFLATED_BYTES} bytes") from error


def _preview(reader: PdfReader, metadata: dict, source: Source) -> str:
    """Whether the first page is drawn, and if not, why not. A page may use
    any object in the file, so only a file the preview may fetch whole is
    drawn, as for images. PDFium inflates what the page draws with no limit
    of its own, past the worker's memory (a crash), so every stream the page
    reaches (content, images, forms, fonts, patterns) is weighed first:
    inflated by pieces and counted, never held."""
    if metadata["encrypted"]:
        return "none: encrypted"
    if not metadata["pages"]:
        return "none: no pages"
    if source.size > PREVIEW_MAX_BYTES:
        return "none: too large"
    from workers.extraction.kinds import image

    streams = _reached(reader.pages[0], source)
    if streams is None:
        return f"none: the page reaches more than {_MAX_PAGE_OBJECTS} objects"
    for stream in streams:
        source.deadline.check()
        pixels = _int(stream.get("/Width")) * _int(stream.get("/Height"))
        if pixels > image.THUMBNAIL_MAX_PIXELS:
            return "none: an image on the page has too many pixels"
        # An image inflates to its pixels (4 bytes each at most, as CMYK).
        if _inflates_past(stream, max(_MAX_INFLATED_BYTES, 4 * pixels)):
            return f"none: the page inflates past {_MAX_INFLATED_BYTES} bytes"
    return "first page"


def _reached(page, source: Source) -> list | None:
    """Every stream the page's content and resources reach, each once, never
    walking up the page tree; None past _MAX_PAGE_OBJECTS objects."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

    pending, seen, streams, visited = [page.get("/Contents"), page.get("/Resources")], set(), [], 0
    while pending:
        found = pending.pop()
        if isinstance(found, IndirectObject):
            if (found.idnum, found.generation) in seen:
                continue
            seen.add((found.idnum, found.generation))
            found = found.get_object()
        visited += 1
        if visited > _MAX_PAGE_OBJECTS:
            return None
        if visited % 256 == 0:
            source.deadline.check()
        if isinstance(found, StreamObject):
            streams.append(found)
        if isinstance(found, DictionaryObject):
            pending.extend(value for key, value in found.items() if key != "/Parent")
        elif isinstance(found, ArrayObject):
            pending.extend(found)
    return streams


def _int(value) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _inflates_past(stream, limit: int) -> bool:
    """True when a Flate stream inflates past `limit` bytes; other filters
    (DCT, JPX) are the image decoders' to bound."""
    import zlib

    filters = stream.get("/Filter")
    if filters != "/FlateDecode" and list(filters or []) != ["/FlateDecode"]:
        return False
    inflater, pending, total = zlib.decompressobj(), stream._data, 0
    while pending and total <= limit:
        total += len(inflater.decompress(pending, 1024 * 1024))
        pending = inflater.unconsumed_tail
    return total > limit


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
        return {**metadata, "pages": _page_count_unopened(reader), "preview": "none: encrypted"}
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
    return {**metadata, "preview": _preview(reader, metadata, source)}


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
