
from tests.invocation import extract

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
