"""Peak memory per extraction, measured with tracemalloc against each kind's budget.

moto copies the whole object on every ranged GET, which tracemalloc would
count as ours; the 200 MB streaming objects are therefore served by a
file-backed stand-in for the S3 client, answering the same ranged
get_object calls from a file on disk. The bombs are small and stay in moto.
"""

import io
import tracemalloc

import pytest

from tests.invocation import extract
from workers.extraction import StoredObject, registry
from workers.extraction.limits import DEFAULT_BUDGET
from workers.extraction.reader import BLOCK_SIZE, CACHE_BLOCKS
from workers.storage import clients

from . import files
from .test_read_bound import SIZE, big_csv, big_json, big_jsonl


class FileBackedS3:
    def __init__(self, path):
        self._path = path

    def get_object(self, Range, **_):
        first, last = (int(n) for n in Range.removeprefix("bytes=").split("-"))
        with open(self._path, "rb") as source:
            source.seek(first)
            return {"Body": io.BytesIO(source.read(last - first + 1))}


def peak_of(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("kind", "make", "content_type"),
    [
        ("csv", big_csv, "text/csv"),
        ("json", big_json, "application/json"),
        ("jsonl", big_jsonl, "application/x-ndjson"),
        ("text", lambda size: b"a line of prose and nothing more\n" * (size // 32), "text/plain"),
    ],
)
def test_streaming_a_200_mb_file_stays_within_the_memory_budget(tmp_path, monkeypatch, kind, make, content_type):
    path = tmp_path / "object"
    path.write_bytes(make(SIZE))
    monkeypatch.setattr(clients, "ranged_reader", lambda not_after: FileBackedS3(path))
    obj = StoredObject("bucket", "incoming/o/f/big", None, path.stat().st_size, content_type, "etag")
    results = []
    peak = peak_of(lambda: results.append(extract(obj)))
    print(f"\n{kind}: peak {peak / 2**20:.1f} MiB streaming {obj.size} bytes")
    assert results[0].metadata["kind"] == kind
    assert peak < DEFAULT_BUDGET.memory_bytes
    # Constant memory: far below the file, near the reader's cache.
    assert peak < 3 * CACHE_BLOCKS * BLOCK_SIZE


@pytest.mark.parametrize(
    ("name", "make", "content_type", "code", "kind"),
    [
        ("zip bomb", files.zip_bomb, "application/zip", "archive_bomb", "zip"),
        ("overlapping zip bomb", files.overlapping_zip_bomb, "application/zip", "archive_bomb", "zip"),
        ("decompression bomb", files.png_bomb, "image/png", "image_bomb", "image"),
    ],
)
def test_bombs_are_refused_within_the_memory_budget(store, name, make, content_type, code, kind):
    obj = store(make(), content_type)
    errors = []

    def run():
        try:
            extract(obj)
        except Exception as error:
            errors.append(error)

    peak = peak_of(run)
    print(f"\n{name}: peak {peak / 2**20:.2f} MiB for a {obj.size}-byte file")
    assert errors[0].code == code
    assert peak < registry.kind(kind).budget.memory_bytes



def refusal_of(tmp_path, monkeypatch, body: bytes, content_type: str):
    """(the error extraction raised, peak bytes) for `body` served from a file."""
    path = tmp_path / "object"
    path.write_bytes(body)
    monkeypatch.setattr(clients, "ranged_reader", lambda not_after: FileBackedS3(path))
    obj = StoredObject("bucket", "incoming/o/f/upload", None, len(body), content_type, "etag")
    errors = []

    def run():
        try:
            extract(obj)
        except Exception as error:
            errors.append(error)

    peak = peak_of(run)
    print(f"\npeak {peak / 2**20:.1f} MiB for {len(body)} bytes")
    return (errors or [None])[0], peak


@pytest.mark.parametrize("mib", [12, 40])
def test_one_endless_csv_row_is_refused_as_too_large_within_64_mib(tmp_path, monkeypatch, mib):
    error, peak = refusal_of(tmp_path, monkeypatch, b"ab," * (mib * 2**20 // 3), "text/csv")
    assert error.code == "too_large"
    assert "row longer than" in error.message
    assert peak < 64 * 2**20


def test_a_csv_row_of_many_short_quoted_lines_is_refused_as_too_large_within_64_mib(tmp_path, monkeypatch):
    # Quoted newlines keep every line short while the row grows without end.
    error, peak = refusal_of(tmp_path, monkeypatch, b"a,b\r\n" + b'"\nab",' * (12 * 2**20 // 6), "text/csv")
    assert error.code == "too_large"
    assert peak < 64 * 2**20
