"""What the API's X-Ray traces keep. A trace is readable by anyone with
`xray:BatchGetTraces`, for 30 days; a presigned URL in it is a working
credential for the caller's file until it expires."""

from __future__ import annotations

import contextlib
import json

import pytest

from .conftest import sha256_b64


class RecordingSubsegment:
    def __init__(self, kept: list) -> None:
        self.kept = kept

    def put_metadata(self, key, value, namespace="default") -> None:
        self.kept.append((key, value))

    def put_annotation(self, key, value) -> None:
        self.kept.append((key, value))


class RecordingProvider:
    """Stands in for the X-Ray recorder: the handler's subsegment keeps what the tracer puts in it."""

    def __init__(self) -> None:
        self.kept: list = []

    @contextlib.contextmanager
    def in_subsegment(self, name=None, **kwargs):
        yield RecordingSubsegment(self.kept)


@pytest.fixture
def trace(monkeypatch) -> RecordingProvider:
    from workers.api import handler as api

    provider = RecordingProvider()
    monkeypatch.setattr(api.tracer, "provider", provider)
    return provider


def test_the_trace_never_holds_the_upload_url_the_caller_gets(alice, trace):
    data = b"hello"
    status, ticket = alice("POST", "/uploads", {"filename": "notes.txt", "contentType": "text/plain",
                                                "size": len(data), "sha256": sha256_b64(data)})
    assert status == 201, ticket
    assert trace.kept, "the handler ran outside the recording subsegment"
    recorded = json.dumps(trace.kept, default=str)
    assert ticket["upload"]["url"] not in recorded
    assert "X-Amz-Signature" not in recorded
