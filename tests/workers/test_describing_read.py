"""The GET that describes an object before it is extracted: what HeadObject
said, and the first block, in one request (`objects.head_and_first_bytes`)."""

from __future__ import annotations

from tests.workers.conftest import BUCKET, put
from workers.storage import clients, objects

FIRST = 1024


def describe(key: str, version_id: str | None = None):
    return objects.head_and_first_bytes(clients.s3(), BUCKET, key, version_id, FIRST)


def test_a_small_object_is_read_whole_and_described_as_a_head_would(aws):
    stored = put("incoming/alice/f1/a.txt", b"hello\n", "text/plain")
    head, first = describe("incoming/alice/f1/a.txt", stored["VersionId"])
    assert first == b"hello\n"
    assert head["ContentLength"] == 6 and head["ContentType"] == "text/plain"
    assert head["VersionId"] == stored["VersionId"] and head["ETag"] == stored["ETag"]
    assert "Body" not in head and head["LastModified"] is not None


def test_a_large_object_gives_its_first_block_and_its_whole_length(aws):
    body = bytes(range(256)) * 40
    put("incoming/alice/f2/b.bin", body, "application/octet-stream")
    head, first = describe("incoming/alice/f2/b.bin")
    assert first == body[:FIRST] and head["ContentLength"] == len(body)


def test_an_empty_object_which_no_range_fits_is_described_by_a_head(aws):
    put("incoming/alice/f3/empty.txt", b"", "text/plain")
    head, first = describe("incoming/alice/f3/empty.txt")
    assert first == b"" and head["ContentLength"] == 0


def test_an_object_or_version_that_is_gone_is_none(aws):
    stored = put("incoming/alice/f4/c.txt", b"x")
    clients.s3().delete_object(Bucket=BUCKET, Key="incoming/alice/f4/c.txt", VersionId=stored["VersionId"])
    assert describe("incoming/alice/f4/c.txt", stored["VersionId"]) is None
    assert describe("incoming/alice/f5/never.txt") is None
