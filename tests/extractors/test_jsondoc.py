import json

import pytest

from tests.invocation import extract
from workers.extraction import registry
from workers.extraction.kinds import jsondoc


def test_object_reports_its_first_fifty_keys(store):
    document = {f"key{i}": {"nested": [i, str(i)]} for i in range(80)}
    metadata = extract(store(json.dumps(document).encode(), "application/json")).metadata
    assert metadata["topLevel"] == "object"
    assert metadata["keys"] == [f"key{i}" for i in range(50)]
    assert metadata["valid"] is True


def test_array_reports_its_length(store):
    body = json.dumps([{"id": i} for i in range(1000)], indent=2).encode()
    metadata = extract(store(body, "application/json")).metadata
    assert (metadata["kind"], metadata["topLevel"], metadata["length"], metadata["valid"]) == (
        "json", "array", 1000, True)


@pytest.mark.parametrize("body", [b"[]", b"{}", b" [ ] \n"])
def test_empty_containers_are_valid(store, body):
    assert extract(store(body, "application/json")).metadata["valid"] is True


@pytest.mark.parametrize(
    "body",
    [b'{"a": 1, "b": }', b"[1, 2, 3", b'{"a": 1} trailing', b"[1 2]", b'{"a": tru', b'{1: 2}'],
)
def test_broken_json_is_reported_invalid_not_failed(store, body):
    metadata = extract(store(body, "application/json")).metadata
    assert metadata["kind"] == "json"
    assert metadata["valid"] is False


def test_members_spanning_read_chunks_are_decoded_whole(store):
    document = [{"text": "x" * 300_000, "n": 123456789}, 98765, "tail"]
    metadata = extract(store(json.dumps(document).encode(), "application/json")).metadata
    assert (metadata["length"], metadata["valid"]) == (3, True)


def test_member_over_the_size_cap_leaves_validity_undetermined(store, monkeypatch):
    monkeypatch.setattr(jsondoc, "MAX_VALUE_BYTES", 1024 * 1024)
    body = json.dumps({"small": 1, "big": "x" * (3 * 1024 * 1024), "after": 2}).encode()
    metadata = extract(store(body, "application/json")).metadata
    assert metadata["keys"] == ["small", "big"]
    assert metadata["valid"] is None


def test_length_is_estimated_past_the_scan_limit(store, monkeypatch):
    monkeypatch.setattr(registry, "STREAM_SCAN_LIMIT_BYTES", 256 * 1024)
    body = ("[" + ",".join(['{"i": 1}'] * 200_000) + "]").encode()
    metadata = extract(store(body, "application/json")).metadata
    assert metadata["lengthEstimated"] == pytest.approx(200_000, rel=0.05)
    assert metadata["valid"] is None


def test_utf16_json_with_bom_is_read(store):
    body = json.dumps({"name": "Zoë"}).encode("utf-16")
    metadata = extract(store(body, "application/json")).metadata
    assert (metadata["keys"], metadata["valid"]) == (["name"], True)


def test_deep_nesting_leaves_validity_undetermined(store):
    body = b'{"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert extract(store(body, "application/json")).metadata["valid"] is None




def test_an_array_of_objects_reports_the_union_of_keys_with_types_and_presence(store):
    document = [
        {"id": 1, "name": "Ada", "score": 9.5, "joined": "2024-05-17", "tags": ["a"]},
        {"id": 2, "name": None, "score": 7, "active": True, "joined": "2024-05-17T10:42:00Z"},
        {"id": 3, "name": "Cy", "meta": {"x": 1}, "active": False, "joined": "soon"},
    ]
    metadata = extract(store(json.dumps(document).encode(), "application/json")).metadata
    assert metadata["columnTypes"] == [
        {"name": "id", "type": "integer", "present": 3, "nulls": 0},
        {"name": "name", "type": "string", "present": 3, "nulls": 1},
        {"name": "score", "type": "number", "present": 2, "nulls": 0},
        {"name": "joined", "type": "string", "present": 3, "nulls": 0},
        {"name": "tags", "type": "array", "present": 1, "nulls": 0},
        {"name": "active", "type": "boolean", "present": 2, "nulls": 0},
        {"name": "meta", "type": "object", "present": 1, "nulls": 0},
    ]
    assert metadata["typeSample"] == {"rows": 3, "wholeFile": True}


def test_strings_that_spell_numbers_stay_strings_but_iso_dates_are_dates(store):
    document = [{"zip": "02139", "n": "12", "day": "2024-05-17"}, {"zip": "10001", "n": "7", "day": "2024-06-01"}]
    metadata = extract(store(json.dumps(document).encode(), "application/json")).metadata
    assert [column["type"] for column in metadata["columnTypes"]] == ["string", "string", "date"]


@pytest.mark.parametrize("document", [[1, 2, 3], [{"a": 1}, 2], {"a": [{"b": 1}]}, []])
def test_only_an_array_of_objects_has_column_types(store, document):
    assert "columnTypes" not in extract(store(json.dumps(document).encode(), "application/json")).metadata


def test_types_come_from_the_first_records_and_say_they_were_not_all(store):
    body = json.dumps([{"i": i, "s": "x"} for i in range(60_000)]).encode()
    metadata = extract(store(body, "application/json")).metadata
    assert (metadata["length"], metadata["typeSample"]) == (60_000, {"rows": 50_000, "wholeFile": False})


def test_keys_past_the_column_cap_are_not_kept(store):
    body = json.dumps([{f"k{i}": i for i in range(500)}]).encode()
    assert len(extract(store(body, "application/json")).metadata["columnTypes"]) == 200


def test_an_array_cut_short_types_its_records_but_not_as_the_whole_file(store):
    metadata = extract(store(b'[{"a": 1}, {"a": 2}, {"a": ', "application/json")).metadata
    assert metadata["valid"] is False
    assert metadata["typeSample"] == {"rows": 2, "wholeFile": False}
