import time

import pytest

from tests.invocation import extract
from workers.extraction import registry
from workers.extraction.sniff import SNIFF_BYTES, sniff

from . import files

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def never_spent() -> None:
    """A deadline check that always passes."""


@pytest.mark.parametrize(
    ("head", "kind", "mime"),
    [
        (files.image("PNG"), "image", "image/png"),
        (files.image("WEBP"), "image", "image/webp"),
        # Audio and video share one sniffed kind; the tracks decide which it is.
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "video", "audio/wav"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video", "video/x-msvideo"),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00", "video", "audio/mp4"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "heif", "image/heic"),
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00", "heif", "image/avif"),
        (b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x00", "binary", "application/octet-stream"),
        (b"%PDF-1.7\n", "pdf", "application/pdf"),
        (b"PK\x03\x04rest", "zip", "application/zip"),
        (b"MZ\x90\x00\x03\x00", "executable", "application/vnd.microsoft.portable-executable"),
        (b"\x7fELF\x02\x01\x01", "executable", "application/x-elf"),
        (b"\x1f\x8b\x08\x00", "binary", "application/gzip"),
        (b"\x00\x01\x02\x03garbage", "binary", "application/octet-stream"),
        (b"", "empty", "application/x-empty"),
        (HTML, "html", "text/html"),
        (b"  \n<p>hello</p>", "html", "text/html"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "svg", "image/svg+xml"),
        (b"#!/bin/sh\nrm -rf /\n", "script", "text/x-script"),
        (b'{"a": 1}', "json", "application/json"),
        (b"a,b\n1,2\n3,4\n", "csv", "text/csv"),
        (b"just some prose.\nWith, a comma.\n", "text", "text/plain"),
        (b"<price> is not a tag we know\n", "text", "text/plain"),
    ],
)
def test_sniffing_goes_by_the_bytes(head, kind, mime):
    sniffed = sniff(head, registry.table(), check=never_spent)
    assert (sniffed.kind, sniffed.mime) == (kind, mime)


def test_html_disguised_as_png_fails_as_type_mismatch(rejection):
    rejected = rejection(HTML, "image/png")
    assert rejected.code == "type_mismatch"
    assert "text/html" in rejected.message


@pytest.mark.parametrize(
    ("body", "declared"),
    [
        (b"<svg onload='alert(1)'></svg>", "image/jpeg"),
        (b"#!/usr/bin/env python\nimport os\n", "application/pdf"),
        (b"MZ\x90\x00" + b"\x00" * 100, "image/gif"),
    ],
)
def test_active_content_declared_as_image_or_pdf_is_a_type_mismatch(rejection, body, declared):
    rejected = rejection(body, declared)
    assert rejected.code == "type_mismatch"


def test_active_content_declared_as_itself_is_unsupported(rejection):
    rejected = rejection(HTML, "text/html")
    assert rejected.code == "unsupported_type"


def test_kinds_off_the_allowlist_are_unsupported(rejection, monkeypatch):
    accepted = registry.accepted_kinds() - {"pdf"}
    monkeypatch.setattr(registry, "accepted_kinds", lambda: accepted)
    rejected = rejection(files.pdf(), "application/pdf")
    assert rejected.code == "unsupported_type"


def test_harmless_mismatch_is_processed_keeping_both_types(store):
    metadata = extract(store(files.image("PNG"), "image/jpeg; charset=binary")).metadata
    assert (metadata["kind"], metadata["format"]) == ("image", "PNG")
    assert (metadata["sniffedType"], metadata["declaredType"]) == ("image/png", "image/jpeg; charset=binary")


@pytest.mark.parametrize("declared", ["application/octet-stream", "image/jpg", "IMAGE/JPEG"])
def test_generic_or_aliased_declared_types_are_not_mismatches(store, declared):
    assert "declaredType" not in extract(store(files.image("JPEG"), declared)).metadata


def test_empty_file_is_processed_as_empty_without_reading_it(store):
    extraction = extract(store(b"", "text/plain"))
    assert extraction.metadata == {"kind": "empty", "sniffedType": "application/x-empty", "size": 0}


def test_unknown_bytes_are_binary_with_their_size(store):
    body = bytes(range(256)) * 40
    metadata = extract(store(body, "application/octet-stream")).metadata
    assert metadata == {"kind": "binary", "sniffedType": "application/octet-stream", "size": len(body)}


@pytest.mark.parametrize("unit", ['"\n', ',"', '" ,', ";'a", '"a",\n"', "\t'\n"])
def test_crafted_text_that_makes_csv_sniffer_quadratic_is_sniffed_within_a_second(unit):
    head = (unit * (SNIFF_BYTES // len(unit))).encode()
    started = time.perf_counter()
    sniff(head, registry.table(), whole=False, check=never_spent)
    assert time.perf_counter() - started < 1


def test_sniffing_calls_the_deadline_check_as_it_reads_rows():
    calls = []
    head = files.delimited([["a", "b"]] * 1000)
    assert sniff(head, registry.table(), check=lambda: calls.append(1)).delimiter == ","
    assert calls


def test_sniffing_stops_when_the_deadline_check_raises():
    def spent():
        raise TimeoutError("spent")

    with pytest.raises(TimeoutError):
        sniff(files.delimited([["a", "b"]] * 10), registry.table(), check=spent)


@pytest.mark.parametrize(
    ("head", "delimiter"),
    [
        (b"a;b;c\n1;2;3\n", ";"),
        (b"a|b\n1|2\n", "|"),
        (b'name,note\n"Ada","x;y"\n"Bob","z;w"\n', ","),
        (b"a,b;c\n1,2;3\n", ","),
        (b"one row,only\n", None),
        (b"a,b\n1,2,3\n", None),
    ],
)
def test_the_delimiter_is_the_one_on_which_the_rows_agree(head, delimiter):
    assert sniff(head, registry.table(), check=never_spent).delimiter == delimiter


def test_every_kind_sniffing_can_answer_has_an_extractor_or_is_refused_as_active_content():
    assert registry.table().kinds() - registry.active_content_kinds() <= registry.accepted_kinds()


def test_every_extractor_serves_a_kind_sniffing_answers_or_a_refinement_its_describe_finds():
    # Office documents are zips; audio is what a container without a video track is.
    assert registry.accepted_kinds() - registry.table().kinds() == {"docx", "xlsx", "pptx", "audio"}
