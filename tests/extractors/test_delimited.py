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
        "columnTypes": [
            {"name": "id", "type": "integer", "nulls": 0},
            {"name": "name", "type": "string", "nulls": 0},
            {"name": "note", "type": "string", "nulls": 0},
        ],
        "rows": 3,
        "typeSample": {"rows": 3, "wholeFile": True},
    }


def test_each_column_gets_the_narrowest_type_its_values_share_and_a_count_of_empties(store):
    rows = [
        ["n", "x", "ok", "day", "at", "code", "mixed", "blank"],
        ["1", "1.5", "true", "2024-05-17", "2024-05-17T10:42:00Z", "007", "1", ""],
        ["-20", "3", "No", "2024-02-29", "2024-05-17 10:42", "012", "2024-01-01", "NULL"],
        ["", "2e3", "FALSE", "", "2024-05-18", "", "yes", "n/a"],
    ]
    metadata = extract(store(files.delimited(rows), "text/csv")).metadata
    assert [(column["type"], column["nulls"]) for column in metadata["columnTypes"]] == [
        ("integer", 1), ("number", 0), ("boolean", 0), ("date", 1), ("datetime", 0), ("string", 1),
        ("string", 0), (None, 3)]


def test_an_impossible_date_is_a_string(store):
    rows = [["day"], ["2023-02-29"], ["2024-13-01"]]
    metadata = extract(store(files.delimited(rows), "text/csv")).metadata
    assert metadata["columnTypes"] == [{"name": "day", "type": "string", "nulls": 0}]


def test_a_short_row_counts_its_missing_cells_as_empty(store):
    body = b"a,b,c\r\n1,2,3\r\n4,5\r\n"
    metadata = extract(store(body, "text/csv")).metadata
    assert [column["nulls"] for column in metadata["columnTypes"]] == [0, 0, 1]


def test_tsv_columns_are_typed_too(store):
    rows = [["when", "amount"], ["2024-05-17", "12.50"], ["2024-05-18", "7"]]
    metadata = extract(store(files.delimited(rows, "\t"), "text/tab-separated-values")).metadata
    assert [column["type"] for column in metadata["columnTypes"]] == ["date", "number"]


def test_types_come_from_a_sample_of_rows_that_says_it_was_not_the_whole_file(store):
    rows = [["id", "value"]] + [[str(i), "1"] for i in range(60_000)] + [["x", "text"]]
    metadata = extract(store(files.delimited(rows), "text/csv")).metadata
    assert metadata["rows"] == 60_001
    assert metadata["typeSample"] == {"rows": 50_000, "wholeFile": False}
    assert [column["type"] for column in metadata["columnTypes"]] == ["integer", "integer"]


def test_a_wide_table_types_fewer_rows_for_the_same_cost(store):
    rows = [[f"c{i}" for i in range(200)]] + [["1"] * 200 for _ in range(1_000)]
    metadata = extract(store(files.delimited(rows), "text/csv")).metadata
    assert metadata["typeSample"] == {"rows": 500, "wholeFile": False}


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
    assert metadata["typeSample"]["wholeFile"] is False
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
