"""The read bound: on a 200 MB object of each kind, extraction fetches at most
1 MiB. Streaming kinds (CSV, TSV, text, JSON, JSON Lines) must read what they count; they
fetch at most the scan limit and the one block that crosses it (read-ahead
stops at the limit), and their memory is
checked in test_memory.py.

The objects live in moto in-process, which copies the whole object on every
ranged GET; the bound is on what the reader fetched, which moto cannot inflate.
"""

import json

import pytest

from tests.invocation import extract
from workers.extraction.reader import BLOCK_SIZE
from workers.extraction.registry import STREAM_SCAN_LIMIT_BYTES

from . import files

SIZE = 200 * 1024 * 1024
BOUND = 1024 * 1024
STREAM_BOUND = STREAM_SCAN_LIMIT_BYTES + BLOCK_SIZE


def big_csv(size: int) -> bytes:
    row = b'17,"Ada Lovelace","said ""hi""\nthen left"\r\n'
    return b"id,name,note\r\n" + row * (size // len(row))


def big_jsonl(size: int) -> bytes:
    line = json.dumps({"id": 1, "name": "Ada", "at": "2024-05-17"}).encode() + b"\n"
    return line * (size // len(line))


def big_json(size: int) -> bytes:
    element = json.dumps({"id": 1, "name": "Ada"}).encode() + b","
    body = element * (size // len(element))
    return b"[" + body[:-1] + b"]"


CASES = {
    "image": (lambda: files.big_jpeg(SIZE), "image/jpeg", BOUND),
    "pdf": (lambda: files.big_pdf(SIZE), "application/pdf", BOUND),
    "zip": (lambda: files.big_zip(SIZE), "application/zip", BOUND),
    "binary": (lambda: bytes(SIZE), "application/octet-stream", BOUND),
    "parquet": (lambda: files.big_parquet(SIZE), "application/vnd.apache.parquet", BOUND),
    "csv": (lambda: big_csv(SIZE), "text/csv", STREAM_BOUND),
    "json": (lambda: big_json(SIZE), "application/json", STREAM_BOUND),
    "jsonl": (lambda: big_jsonl(SIZE), "application/x-ndjson", STREAM_BOUND),
    "text": (lambda: b"a line of prose and nothing more\n" * (SIZE // 32), "text/plain", STREAM_BOUND),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_large_object_is_described_from_a_bounded_read(store, kind, caplog):
    make, content_type, bound = CASES[kind]
    body = make()
    assert len(body) >= SIZE * 0.99
    obj = store(body, content_type, direct=True)
    del body
    with caplog.at_level("INFO"):
        extraction = extract(obj)
    assert extraction.metadata["kind"] == kind
    assert extraction.thumbnail is None
    read = next(r for r in caplog.records if r.getMessage() == "Read the object")
    print(f"\n{kind}: {read.bytesFetched} bytes in {read.rangeRequests} requests for {obj.size} bytes")
    assert read.bytesFetched <= bound
