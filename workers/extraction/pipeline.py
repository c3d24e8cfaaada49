"""Metadata extraction: from a stored object to the `metadata` of its record.

Sniff the first bytes, admit or reject the kind, run the kind's extractor over
a ranged reader, and render a thumbnail when the kind draws one. Nothing here
writes: the caller decides where the thumbnail goes and when, so that a record
and its thumbnail can never disagree (see workers/ingest/handler.py). Every `metadata` carries
`kind` and `sniffedType`, plus `declaredType` when the declared Content-Type
names another format (a harmless mismatch; harmful ones are rejected).

Failures: an extractor's own `FileRejected` stands. Any other exception from a
parser means the bytes are `corrupt`, except when the reader shows the real
cause: an S3 error (re-raised, so the message is retried), or a spent time or
read budget (`too_large`). Parsers often catch and wrap exceptions, which is
why the reader keeps those causes rather than relying on what propagates.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from contract.metrics import INGEST_SERVICE
from workers.errors import FileRejected, OutOfTime
from workers.extraction import limits, registry, typecheck
from workers.extraction.limits import Deadline
from workers.extraction.reader import ObjectVersion, ReadStats, S3RangeReader
from workers.extraction.sniff import SNIFF_BYTES, sniff
from workers.extraction.thumbnail import Thumbnail

logger = Logger(service=INGEST_SERVICE, child=True)

_MAX_MESSAGE_CHARS = 300
T = TypeVar("T")


@dataclass(frozen=True)
class StoredObject:
    """What describing the object told us: HeadObject's facts, from the ranged
    GET that also read its first block (`objects.head_and_first_bytes`)."""

    bucket: str
    key: str
    version_id: str | None
    size: int
    content_type: str
    etag: str
    # Its first bytes, when the call that described it read them already
    # (`objects.head_and_first_bytes`): the readers start from them.
    first_bytes: bytes = b""


@dataclass(frozen=True)
class Extraction:
    metadata: dict[str, Any]
    # A WebP when the file's kind draws one for it; None otherwise.
    thumbnail: bytes | None
    reads: ReadStats
    thumbnail_reads: ReadStats | None = None


def extract(obj: StoredObject, not_after: float, client,
            on_kind: Callable[[registry.Kind], None] | None = None) -> Extraction:
    """Describe the object, reading it with `client` (`clients.ranged_reader`).
    Raises `FileRejected` when the file cannot be accepted, and `OutOfTime`
    when `not_after` (the invocation's limit, a `time.monotonic()` instant)
    ends the work before the file's own budget does. `on_kind` is told the
    kind sniffing found before the kind's extractor runs (to set its limits,
    or to wait until it may go on)."""
    job = _Job(obj, not_after, client, on_kind)
    try:
        return job.run()
    finally:
        job.log_reads()


class _Job:
    def __init__(self, obj: StoredObject, not_after: float, client,
                 on_kind: Callable[[registry.Kind], None] | None) -> None:
        self.obj = obj
        self.on_kind = on_kind
        self.not_after = not_after
        self.client = client
        self.version = ObjectVersion(obj.bucket, obj.key, obj.size, obj.version_id, obj.etag)
        budget = limits.DEFAULT_BUDGET
        self.reader = S3RangeReader(self.client, self.version, Deadline(budget.seconds, not_after),
                                    fetch_limit=budget.fetch_bytes)
        # Counted as this reader's first request: the file's reads are what was fetched for it.
        self.reader.start_from(obj.first_bytes, counted=True)
        self.thumbnail_reader: S3RangeReader | None = None

    def run(self) -> Extraction:
        stream = io.BufferedReader(self.reader)
        head = stream.read(SNIFF_BYTES)
        # Sniffing is the file's work too: it spends the same budget.
        sniffed = sniff(head, registry.table(), typecheck.normalise(self.obj.content_type),
                        whole=len(head) == self.obj.size, check=self.reader.deadline.check)
        typecheck.admit(sniffed, self.obj.content_type)
        kind = registry.kind(sniffed.kind)
        if self.on_kind is not None:
            waited_from = time.monotonic()
            self.on_kind(kind)
            # Waiting to be let go on (for memory, say) is not the file's work.
            self.reader.deadline.exclude(time.monotonic() - waited_from)
        # The budget depends on the kind, known only now; the head stays cached.
        self.reader.deadline = self.reader.deadline.resized(kind.budget.seconds)
        self.reader.fetch_limit = kind.budget.fetch_bytes
        if kind.streamed:
            self.reader.readahead_end = registry.STREAM_SCAN_LIMIT_BYTES
        stream.seek(0)
        source = registry.Source(stream, self.obj.size, sniffed, self.reader.deadline)
        described = _guarded(self.reader, kind.name, lambda: kind.describe(source))
        metadata = {"kind": sniffed.kind, "sniffedType": sniffed.mime, **described}
        # An archive may turn out to be an office document of a kind not accepted.
        if metadata["kind"] not in registry.accepted_kinds():
            raise FileRejected("unsupported_type", f"Files of type {metadata['sniffedType']} are not accepted")
        if typecheck.mismatch(metadata["sniffedType"], self.obj.content_type):
            metadata["declaredType"] = self.obj.content_type
        rendered = None
        drawn = registry.kind(metadata["kind"]).thumbnail
        if drawn is not None and drawn.wanted(metadata, self.obj.size):
            rendered = self._thumbnail(metadata["kind"], drawn)
        return Extraction(metadata=metadata, thumbnail=rendered, reads=self.reader.stats,
                          thumbnail_reads=self.thumbnail_reader.stats if self.thumbnail_reader else None)

    def _thumbnail(self, kind: str, drawn: Thumbnail) -> bytes:
        # Shares the file's deadline: the thumbnail is part of its budget.
        self.thumbnail_reader = S3RangeReader(
            self.client, self.version, self.reader.deadline, fetch_limit=drawn.max_bytes
        )
        self.thumbnail_reader.start_from(self.obj.first_bytes, counted=False)
        stream = io.BufferedReader(self.thumbnail_reader)
        return _guarded(self.thumbnail_reader, kind, lambda: drawn.render(stream))

    def log_reads(self) -> None:
        stats = self.reader.stats
        thumb = self.thumbnail_reader.stats if self.thumbnail_reader else None
        logger.info(
            "Read the object",
            extra={
                "bytesFetched": stats.bytes_fetched,
                "rangeRequests": stats.requests,
                "thumbnailBytesFetched": thumb.bytes_fetched if thumb else 0,
                "thumbnailRangeRequests": thumb.requests if thumb else 0,
            },
        )


def _guarded(reader: S3RangeReader, kind: str, parse: Callable[[], T]) -> T:
    """Run a parser over `reader` and classify whatever it raises (see the module doc)."""
    try:
        result = parse()
    except (FileRejected, OutOfTime):
        _raise_underlying(reader)
        raise
    except MemoryError as error:
        _raise_underlying(reader)
        raise FileRejected("too_large", f"The {kind} needs more memory than one file may use") from error
    except RecursionError as error:
        _raise_underlying(reader)
        raise FileRejected("too_large", f"The {kind} is too deeply nested to process") from error
    except Exception as error:
        _raise_underlying(reader)
        logger.warning("The parser rejected the file", extra={"kind": kind}, exc_info=True)
        detail = str(error) or type(error).__name__
        raise FileRejected("corrupt", f"Not a readable {kind} file: {detail}"[:_MAX_MESSAGE_CHARS]) from error
    _raise_underlying(reader)
    return result


def _raise_underlying(reader: S3RangeReader) -> None:
    if reader.failure is not None:
        raise reader.failure
    if reader.refusal is not None:
        raise reader.refusal
    if reader.deadline.expired:
        reader.deadline.check()


