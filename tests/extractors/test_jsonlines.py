import json

import pytest

from tests.invocation import extract
from workers.extraction import registry
from workers.extraction.kinds import jsonlines


def lines(*values, end: str = "\n") -> bytes:
    return "".join(json.dumps(value) + end for value in values).encode()


def test_json_lines_are_their_own_kind_with_records_and_column_types(store):
    body = lines({"id": 1, "at": "2024-05-17T10:42:00+02:00", "ok": True},
                 {"id": 2, "at": "2024-05-18T08:00:00+02:00", "ok": None},
                 {"id": 3, "note": "late"})
    metadata = extract(store(body, "application/x-ndjson")).metadata
    assert metadata == {
        "kind": "jsonl",
        "sniffedType": "application/x-ndjson",
        "encoding": "utf-8",
        "records": 3,
        "invalidLines": 0,
        "valid": True,
        "columnTypes": [
            {"name": "id", "type": "integer", "present": 3, "nulls": 0},
            {"name": "at", "type": "datetime", "present": 2, "nulls": 0},
            {"name": "ok", "type": "boolean", "present": 2, "nulls": 1},
            {"name": "note", "type": "string", "present": 1, "nulls": 0},
        ],
        "typeSample": {"rows": 3, "wholeFile": True},
    }


def test_sniffing_judges_the_lines_not_the_declared_type(store):
    body = lines({"a": 1}, {"a": 2}, end="\r\n")
    metadata = extract(store(body, "application/json")).metadata
    assert (metadata["kind"], metadata["records"]) == ("jsonl", 2)


@pytest.mark.parametrize("body", [
    b'{"a": 1}\n',
    b'{\n  "a": 1\n}\n',
    b'[\n{"a": 1},\n{"a": 2}\n]\n',
    b'{"a": 1} {"b": 2}\n{"c": 3}\n',
])
def test_a_json_document_is_not_json_lines(store, body):
    assert extract(store(body, "application/json")).metadata["kind"] == "json"


def test_lines_of_arrays_are_records_without_column_types(store):
    metadata = extract(store(lines([1, 2], [3, 4], [5]), "application/x-ndjson")).metadata
    assert (metadata["kind"], metadata["records"]) == ("jsonl", 3)
    assert "columnTypes" not in metadata


def test_broken_lines_are_counted_and_blank_lines_skipped(store):
    body = b'{"a": 1}\n{"a": 2}\n\n{"a": \n{"a": 4}\n'
    metadata = extract(store(body, "application/x-ndjson")).metadata
    assert (metadata["records"], metadata["invalidLines"], metadata["valid"]) == (3, 1, False)


def test_a_deeply_nested_line_leaves_validity_undetermined(store):
    body = lines({"a": 1}, {"a": 2}) + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    metadata = extract(store(body, "application/x-ndjson")).metadata
    assert (metadata["records"], metadata["valid"]) == (2, None)
    assert metadata["typeSample"]["wholeFile"] is False


def test_a_line_over_the_cap_is_refused_as_too_large(rejection, monkeypatch):
    monkeypatch.setattr(jsonlines, "MAX_LINE_CHARS", 64 * 1024)
    rejected = rejection(lines({"a": 1}, {"a": 2}) + b'{"big": "' + b"x" * 100_000 + b'"}\n', "application/x-ndjson")
    assert rejected.code == "too_large"


def test_records_are_estimated_past_the_scan_limit(store, monkeypatch):
    monkeypatch.setattr(registry, "STREAM_SCAN_LIMIT_BYTES", 256 * 1024)
    body = b'{"i": 1}\n' * 200_000
    metadata = extract(store(body, "application/x-ndjson")).metadata
    assert "records" not in metadata
    assert metadata["recordsEstimated"] == pytest.approx(200_000, rel=0.05)
    assert (metadata["valid"], metadata["typeSample"]["wholeFile"]) == (None, False)
