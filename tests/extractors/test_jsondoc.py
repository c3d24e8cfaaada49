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


