import io

import pytest
from PIL import Image

from tests.invocation import extract
from workers.extraction.kinds import pdf
from workers.extraction.thumbnail import SIZE

from . import files


def test_pdf_reports_pages_and_document_info(store):
    metadata = extract(store(files.pdf(pages=3), "application/pdf")).metadata
    assert metadata == {
        "kind": "pdf",
        "sniffedType": "application/pdf",
        "pdfVersion": "1.3",
        "encrypted": False,
        "pages": 3,
        "title": "Quarterly report",
        "author": "Ada Lovelace",
        "producer": "fixture-writer",
        "creationDate": "2024-05-17T10:42:00+02:00",
        "preview": "first page",
    }


def test_pdf_with_an_empty_user_password_is_read_in_full(store):
    metadata = extract(store(files.pdf(pages=2, password=""), "application/pdf")).metadata
    assert metadata["encrypted"] is True
    assert (metadata["pages"], metadata["title"]) == (2, "Quarterly report")


def test_password_protected_pdf_reports_what_is_readable_without_the_password(store):
    metadata = extract(store(files.pdf(pages=4, password="secret"), "application/pdf")).metadata
    assert metadata["encrypted"] is True
    assert metadata["pages"] == 4
    assert metadata["pdfVersion"]
    assert (metadata["title"], metadata["author"]) == (None, None)


def test_pdf_without_info_dictionary_reports_none_for_its_fields(store):
    metadata = extract(store(files.pdf(pages=1, metadata={}), "application/pdf")).metadata
    assert metadata["pages"] == 1
    assert metadata["title"] is None


def test_truncated_pdf_fails_as_corrupt(rejection):
    whole = files.pdf(pages=5)
    rejected = rejection(whole[: len(whole) // 3], "application/pdf")
    assert rejected.code == "corrupt"
    assert rejected.message


def test_the_first_page_is_drawn_as_a_small_webp(store):
    extraction = extract(store(files.drawn_pdf((400, 200), "red"), "application/pdf"))
    assert extraction.metadata["preview"] == "first page"
    thumb = Image.open(io.BytesIO(extraction.thumbnail))
    assert (thumb.format, thumb.size) == ("WEBP", (SIZE[0], SIZE[0] // 2))
    red, green, blue = thumb.convert("RGB").getpixel((thumb.width // 2, thumb.height // 2))
    assert red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize("password", ["secret", ""])
def test_an_encrypted_pdf_gets_no_preview_and_says_so(store, password):
    extraction = extract(store(files.pdf(pages=2, password=password), "application/pdf"))
    assert extraction.metadata["preview"] == "none: encrypted"
    assert extraction.thumbnail is None


def test_a_pdf_the_preview_may_not_fetch_whole_gets_none_and_says_so(store, monkeypatch):
    monkeypatch.setattr(pdf, "PREVIEW_MAX_BYTES", 1024)
    extraction = extract(store(files.drawn_pdf(), "application/pdf"))
    assert extraction.metadata["preview"] == "none: too large"
    assert extraction.thumbnail is None


def test_the_preview_reads_through_the_ranged_reader_within_its_limit(store, caplog):
    body = files.big_pdf(8 * 1024 * 1024)
    with caplog.at_level("INFO"):
        extraction = extract(store(body, "application/pdf"))
    read = next(r for r in caplog.records if r.getMessage() == "Read the object")
    assert extraction.thumbnail is not None
    assert 0 < read.thumbnailBytesFetched <= pdf.PREVIEW_MAX_BYTES
