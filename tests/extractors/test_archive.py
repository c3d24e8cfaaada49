import io
import zipfile

import pytest

from tests.invocation import extract
from workers.extraction.kinds import archive

from . import files


def test_zip_is_described_from_its_central_directory(store):
    body = files.archive({"a.txt": b"hello " * 1000, "b/c.csv": b"x,y\n" * 500, "empty/": b""})
    metadata = extract(store(body, "application/zip")).metadata
    assert metadata["kind"] == "zip"
    assert metadata["entries"] == 3
    assert metadata["uncompressedSize"] == 6000 + 2000
    assert metadata["compressionRatio"] > 10


def test_stored_zip_has_a_ratio_of_one(store):
    metadata = extract(store(files.archive({"a": b"12345"}, zipfile.ZIP_STORED), "application/zip")).metadata
    assert metadata["compressionRatio"] == 1.0


@pytest.mark.parametrize(
    ("main_part", "kind"),
    [("word/document.xml", "docx"), ("xl/workbook.xml", "xlsx"), ("ppt/presentation.xml", "pptx")],
)
def test_office_documents_are_reported_by_their_kind(store, main_part, kind):
    mime = {
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }[kind]
    metadata = extract(store(files.ooxml(main_part), mime)).metadata
    assert (metadata["kind"], metadata["sniffedType"], metadata["entries"]) == (kind, mime, 3)
    assert "declaredType" not in metadata


def test_zip_bomb_fails_as_archive_bomb(rejection):
    rejected = rejection(files.zip_bomb(), "application/zip")
    assert rejected.code == "archive_bomb"
    assert "ratio" in rejected.message


def test_overlapping_entries_fail_as_archive_bomb(rejection):
    rejected = rejection(files.overlapping_zip_bomb(), "application/zip")
    assert rejected.code == "archive_bomb"
    assert "overlap" in rejected.message


def test_zip_with_too_many_entries_fails_before_its_directory_is_loaded(rejection, monkeypatch):
    monkeypatch.setattr(archive, "MAX_ENTRIES", 10)
    body = files.archive({f"f{i}": b"" for i in range(11)})
    rejected = rejection(body, "application/zip")
    assert rejected.code == "archive_bomb"


def test_truncated_zip_fails_as_corrupt(rejection):
    body = files.archive({"a.txt": b"hello " * 10_000})
    rejected = rejection(body[: len(body) - 30], "application/zip")
    assert rejected.code == "corrupt"


def test_zip64_end_record_is_followed(store, monkeypatch):
    # Lowering zipfile's entry limit makes it write the zip64 end records that
    # real archives get past 65535 entries.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        for name in ("a", "b", "c"):
            package.writestr(name, b"abc")
    assert b"PK\x06\x06" in out.getvalue()
    metadata = extract(store(out.getvalue(), "application/zip")).metadata
    assert (metadata["entries"], metadata["uncompressedSize"]) == (3, 9)


def test_zip_whose_end_record_understates_300000_entries_fails_as_archive_bomb(rejection):
    rejected = rejection(files.zip_claiming(1, 300_000), "application/zip")
    assert rejected.code == "archive_bomb"
    assert "300000 entries" in rejected.message


def test_zip_count_over_the_cap_is_found_in_the_directory_not_the_claim(rejection, monkeypatch):
    monkeypatch.setattr(archive, "MAX_ENTRIES", 10)
    rejected = rejection(files.zip_claiming(3, 11), "application/zip")
    assert rejected.code == "archive_bomb"


def test_zip_whose_claim_wrapped_past_65535_is_described_by_its_real_entries(store, monkeypatch):
    # Writers without zip64 store the count modulo 65536; readers ignore it.
    monkeypatch.setattr(archive, "MAX_ENTRIES", 10)
    metadata = extract(store(files.zip_claiming(2, 5), "application/zip")).metadata
    assert metadata["entries"] == 5
