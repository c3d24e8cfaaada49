import io
import time

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.invocation import extract
from workers.errors import FileRejected
from workers.extraction.limits import Deadline
from workers.extraction.reader import ObjectVersion, S3RangeReader
from workers.storage import clients

from . import files

DATA = bytes(range(256)) * 40 + b"tail"


def open_reader(s3, obj, *, fetch_limit=10**9, seconds=60.0, cache_blocks=4, max_readahead_blocks=2):
    version = ObjectVersion(obj.bucket, obj.key, obj.size, obj.version_id, obj.etag)
    return S3RangeReader(
        s3,
        version,
        Deadline(seconds, time.monotonic() + 60),
        fetch_limit=fetch_limit,
        block_size=64,
        cache_blocks=cache_blocks,
        max_readahead_blocks=max_readahead_blocks,
    )



_operation = st.one_of(
    st.tuples(st.just("seek"), st.integers(0, len(DATA) + 100),
              st.sampled_from([io.SEEK_SET, io.SEEK_END, io.SEEK_CUR])),
    st.tuples(st.just("read"), st.integers(-1, 700), st.just(0)),
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(_operation, max_size=12))
def test_reader_returns_exactly_what_a_local_file_would(s3, store, operations):
    # Tiny blocks and a four-block cache, so runs, eviction and refetching all happen.
    reader = io.BufferedReader(open_reader(s3, store(DATA)), buffer_size=100)
    local = io.BytesIO(DATA)
    for name, amount, whence in operations:
        if name == "seek":
            # Never before the start: BytesIO clamps such a seek to 0 where real files raise.
            offset = {io.SEEK_SET: amount, io.SEEK_END: -min(amount, len(DATA)), io.SEEK_CUR: amount // 10}[whence]
            assert reader.seek(offset, whence) == local.seek(offset, whence)
        else:
            assert reader.read(amount) == local.read(amount)
        assert reader.tell() == local.tell()


def test_sequential_reads_fetch_growing_runs_and_count_them(s3, store):
    raw = open_reader(s3, store(DATA), cache_blocks=16, max_readahead_blocks=8)
    assert raw.read(len(DATA)) == DATA
    # 161 blocks of 64 bytes in runs of 1, 2, 4, then 8 blocks: 4 + ceil(146 / 8).
    assert raw.stats.bytes_fetched == len(DATA)
    assert raw.stats.requests == 23


def test_read_ahead_stops_at_its_end_and_past_it_blocks_come_one_at_a_time(s3, store):
    raw = open_reader(s3, store(DATA), cache_blocks=16, max_readahead_blocks=8)
    raw.readahead_end = 20 * 64
    for _ in range(20 * 64 // 32):
        raw.read(32)
    # Runs of 1, 2, 4, 8, then the 5 blocks left before the end: nothing past it.
    assert (raw.stats.requests, raw.stats.bytes_fetched) == (5, 20 * 64)
    raw.read(64 * 3)
    assert (raw.stats.requests, raw.stats.bytes_fetched) == (8, 23 * 64)


def test_cached_blocks_are_not_fetched_again(s3, store):
    raw = open_reader(s3, store(DATA))
    raw.seek(200)
    raw.read(10)
    raw.seek(195)
    raw.read(10)
    assert (raw.stats.requests, raw.stats.bytes_fetched) == (1, 64)


def test_reader_keeps_reading_the_version_it_was_given(s3, store):
    obj = store(DATA)
    store(b"overwritten")
    raw = open_reader(s3, obj)
    assert raw.read(16) == DATA[:16]


def test_without_a_version_the_etag_guards_against_an_overwrite(s3, store):
    obj = store(DATA)
    store(b"overwritten" * 100)
    raw = open_reader(s3, obj.__class__(**{**obj.__dict__, "version_id": None}))
    with pytest.raises(ClientError) as error:
        raw.read(16)
    assert error.value.response["Error"]["Code"] == "PreconditionFailed"
    assert raw.failure is error.value


def test_fetch_limit_refuses_and_keeps_refusing(s3, store):
    raw = open_reader(s3, store(DATA), fetch_limit=100)
    raw.read(64)
    for _ in range(2):
        with pytest.raises(FileRejected) as rejected:
            raw.read(64)
        assert rejected.value.code == "too_large"


def test_spent_deadline_stops_reads_with_too_large(s3, store):
    raw = open_reader(s3, store(DATA), seconds=0.01)
    time.sleep(0.02)
    with pytest.raises(FileRejected) as rejected:
        raw.read(1)
    assert rejected.value.code == "too_large"
    assert raw.deadline.expired


def test_s3_error_inside_a_parser_is_raised_as_itself_not_as_corrupt(s3, store, monkeypatch):
    """pypdf wraps read errors; the worker must still see a transient S3 failure."""
    # Big enough that pypdf's first read (the trailer) is not in the sniffed block.
    obj = store(files.pdf(pages=4000), "application/pdf")
    real_get = s3.get_object
    calls = []

    def flaky_get(**params):
        calls.append(params)
        if len(calls) > 1:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "GetObject")
        return real_get(**params)

    monkeypatch.setattr(s3, "get_object", flaky_get)
    monkeypatch.setattr(clients, "ranged_reader", lambda not_after: s3)
    with pytest.raises(ClientError) as error:
        extract(obj)
    assert error.value.response["Error"]["Code"] == "SlowDown"
    assert calls[0]["VersionId"] == obj.version_id
