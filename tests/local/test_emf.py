"""EMF lines read as CloudWatch Logs reads them: what Powertools writes
becomes samples with its dimensions, and a broken document yields nothing."""

from __future__ import annotations

import json

import pytest

from local.cloudwatch import emf


def document(**changes) -> dict:
    doc = {
        "_aws": {"Timestamp": 1_764_900_000_000, "CloudWatchMetrics": [{
            "Namespace": "Uploads", "Dimensions": [["service", "stack"]],
            "Metrics": [{"Name": "FilesFailed", "Unit": "Count"}, {"Name": "IngestLagMs", "Unit": "Milliseconds"}],
        }]},
        "service": "ingest", "stack": "local", "FilesFailed": [1.0, 1.0], "IngestLagMs": 1200.0,
        "function_request_id": "abc",
    }
    doc.update(changes)
    return doc


def test_a_powertools_blob_becomes_one_sample_per_metric_and_dimension_set():
    found = emf.samples(json.dumps(document()))
    assert [(s.namespace, s.name, s.dimensions, s.values, s.unit) for s in found] == [
        ("Uploads", "FilesFailed", (("service", "ingest"), ("stack", "local")), (1.0, 1.0), "Count"),
        ("Uploads", "IngestLagMs", (("service", "ingest"), ("stack", "local")), (1200.0,), "Milliseconds"),
    ]
    assert found[0].timestamp_ms == 1_764_900_000_000


def test_every_dimension_set_is_its_own_series():
    doc = document(code="corrupt")
    doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [["service", "stack"], ["service", "stack", "code"]]
    dimension_sets = {s.dimensions for s in emf.samples(json.dumps(doc)) if s.name == "FilesFailed"}
    assert dimension_sets == {(("service", "ingest"), ("stack", "local")),
                              (("code", "corrupt"), ("service", "ingest"), ("stack", "local"))}


def test_a_prefix_before_the_document_is_allowed_and_plain_lines_are_not_emf():
    assert len(emf.samples("2026-12-05T06:00:00Z abc INFO " + json.dumps(document()))) == 2
    assert emf.samples('{"level": "INFO", "message": "processed"}') == []
    assert emf.samples("Traceback (most recent call last):") == []


def _without_timestamp():
    doc = document()
    del doc["_aws"]["Timestamp"]
    return doc


def _directive(**changes):
    doc = document()
    doc["_aws"]["CloudWatchMetrics"][0].update(changes)
    return doc


@pytest.mark.parametrize("doc, message", [
    (_without_timestamp(), "Timestamp"),
    (document(_aws={"Timestamp": "now", "CloudWatchMetrics": []}), "Timestamp"),
    (document(_aws={"Timestamp": 1}), "CloudWatchMetrics"),
    (_directive(Namespace=""), "Namespace"),
    (_directive(Dimensions=[["service", "missing"]]), "missing"),
    (_directive(Dimensions=[[f"d{i}" for i in range(31)]]), "at most 30"),
    (document(stack=7), "stack"),
    (document(IngestLagMs="fast"), "IngestLagMs"),
    (document(FilesFailed=[1.0] * 101), "FilesFailed"),
    (_directive(Metrics=[{"Name": "FilesFailed", "Unit": "Files"}]), "unit"),
    (_directive(Metrics=[{"Name": "FilesFailed", "StorageResolution": 5}]), "StorageResolution"),
], ids=["no timestamp", "timestamp not a number", "no directives", "empty namespace", "dimension not a member",
        "31 dimensions", "dimension not a string", "value not a number", "101 values", "unknown unit",
        "bad resolution"])
def test_a_document_that_breaks_the_specification_is_refused_whole(doc, message):
    with pytest.raises(emf.InvalidEmf, match=message):
        emf.samples(json.dumps(doc))


def test_a_truncated_line_is_refused():
    with pytest.raises(emf.InvalidEmf, match="not JSON"):
        emf.samples(json.dumps(document())[:-10])
