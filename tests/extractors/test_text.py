import pytest

from tests.invocation import extract
from workers.extraction import registry


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (b"one\ntwo\nthree\n", 3),
        (b"one\ntwo\nthree", 3),
        (b"one\r\ntwo\r\n", 2),
        (b"classic\rmac\r", 2),
        (b"\n\n", 2),
    ],
)
def test_text_counts_lines_whatever_the_line_ending(store, body, lines):
    metadata = extract(store(body, "text/plain")).metadata
    assert metadata == {"kind": "text", "sniffedType": "text/plain", "encoding": "utf-8", "lines": lines}


def test_text_in_a_legacy_encoding_reports_it(store):
    metadata = extract(store("Grüße aus Köln\n".encode("cp1252"), "text/plain")).metadata
    assert metadata["encoding"] == "cp1252"


def test_lines_are_estimated_past_the_scan_limit(store, monkeypatch):
    monkeypatch.setattr(registry, "STREAM_SCAN_LIMIT_BYTES", 2 * 1024 * 1024)
    metadata = extract(store(b"a line of prose\n" * 1_000_000, "text/plain")).metadata
    assert metadata["linesEstimated"] == pytest.approx(1_000_000, rel=0.05)
