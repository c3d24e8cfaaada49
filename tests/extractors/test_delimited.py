import pytest

from tests.invocation import extract
from workers.extraction import registry
from workers.extraction.kinds.delimited import MAX_FIELD_BYTES

from . import files

HEADER = ["id", "name", "note"]


def test_csv_rows_are_counted_right_with_quoted_newlines(store):
    rows = [HEADER, ["1", "Ada", "line one\nline two"], ["2", "Bob", "plain"], ["3", "Cy", "a,b\r\nc"]]
    metadata = extract(store(files.delimited(rows), "text/csv")).metadata
    assert metadata == {
        "kind": "csv",
        "sniffedType": "text/csv",
        "delimiter": ",",
        "encoding": "utf-8",
        "columns": HEADER,
        "columnCount": 3,
        "rows": 3,
    }


@pytest.mark.parametrize("delimiter", [";", "|"])
def test_other_delimiters_are_detected(store, delimiter):
    rows = [HEADER] + [[str(i), f"name {i}", "x"] for i in range(10)]
    metadata = extract(store(files.delimited(rows, delimiter), "text/csv")).metadata
    assert (metadata["delimiter"], metadata["rows"], metadata["columns"]) == (delimiter, 10, HEADER)


def test_tab_separated_file_is_a_tsv(store):
    rows = [HEADER] + [[str(i), "n", "x"] for i in range(5)]
    metadata = extract(store(files.delimited(rows, "\t"), "text/tab-separated-values")).metadata
    assert (metadata["kind"], metadata["delimiter"], metadata["rows"]) == ("tsv", "\t", 5)


def test_non_utf8_csv_is_read_in_its_own_encoding(store):
    rows = [["ville", "pays"], ["Besançon", "France"], ["Köln", "Deutschland"]]
    metadata = extract(store(files.delimited(rows, encoding="cp1252"), "text/csv")).metadata
    assert metadata["encoding"] == "cp1252"
    assert (metadata["columns"], metadata["rows"]) == (["ville", "pays"], 2)


def test_single_column_csv_is_read_as_csv_when_declared_so(store):
    metadata = extract(store(b"email\r\na@example.com\r\nb@example.com\r\n", "text/csv")).metadata
    assert (metadata["kind"], metadata["columns"], metadata["rows"]) == ("csv", ["email"], 2)


def test_rows_are_estimated_past_the_scan_limit(store, monkeypatch):
    monkeypatch.setattr(registry, "STREAM_SCAN_LIMIT_BYTES", 1024 * 1024)
    body = b"a,b\r\n" + b"1,2\r\n" * 1_000_000
    metadata = extract(store(body, "text/csv")).metadata
    assert "rows" not in metadata
    assert metadata["rowsEstimated"] == pytest.approx(1_000_000, rel=0.02)


def test_unterminated_quote_fails_at_the_field_limit_instead_of_filling_memory(rejection):
    body = b'a,b\r\n1,2\r\n3,4\r\n5,"' + b"x" * (MAX_FIELD_BYTES + 1024)
    rejected = rejection(body, "text/csv")
    assert rejected.code == "corrupt"
    assert "field larger than field limit" in rejected.message


def test_a_row_of_too_many_short_fields_is_refused_as_too_large(rejection):
    rejected = rejection(b"a,b\r\n" + b"1," * 100_000 + b"\r\n", "text/csv")
    assert rejected.code == "too_large"
    assert "fields" in rejected.message


def test_a_field_near_the_field_limit_still_fits_in_its_row(store):
    body = b"a,b\r\n1," + b"x" * (MAX_FIELD_BYTES - 16) + b"\r\n2,3\r\n"
    assert extract(store(body, "text/csv")).metadata["rows"] == 2
