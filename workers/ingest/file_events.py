"""What one S3 event does to its file: the worker's decisions.

A created object is described (one ranged GET: what HeadObject would say, and
its first block), extracted in a child process and recorded processed or
failed; a removed one marks its file deleted, unless another version of the
key lives on. Around that, an event already applied is skipped, a second
object under a spent ticket and an object arriving for a deleted file are
removed, and a file that kept killing the worker is quarantined. GuardDuty's
scan results arrive on the same queue and are recorded against the object
version they were made for (`apply_scan`); an infected file loses its
thumbnail. Every write is conditional
(workers/storage/ingest_records.py), so the decisions hold however events are
repeated, reordered or handled at once.

Metrics are added under a lock: Powertools' metric set is not thread-safe.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from contract.http import MAX_FILE_SIZE
from contract.ingest import INGEST
from contract.keys import FileKey
from contract.metrics import (
    BYTES_FETCHED,
    FILES_FAILED,
    FILES_PROCESSED,
    INGEST_LAG,
    INGEST_SERVICE,
    NAMESPACE,
    RANGE_REQUESTS,
    SCANS_FAILED,
    SCANS_STUCK,
    THUMBNAIL_BYTES_FETCHED,
)
from contract.scan import SCAN_FAILED, SCAN_INFECTED, scan_stuck_after_s
from contract.table import QUARANTINE_CODE, STATUS_DELETED, STATUS_FAILED, STATUS_PENDING, STATUS_PROCESSED
from workers.errors import FileRejected, OutOfTime
from workers.extraction import Extraction, StoredObject, isolated, reader, thumbnail
from workers.ingest.notifications import S3Event, ScanResult
from workers.storage import clients, dynamo, ingest_records, objects, records, usage
from workers.storage.ingest_records import Attempt, ExtractionStart, RecordedState

T = TypeVar("T")

# With less than this left to extract, a file waits for a later batch.
MIN_EXTRACT_S = 0.25

logger = Logger(service=INGEST_SERVICE)
tracer = Tracer(service=INGEST_SERVICE, patch_modules=clients.TRACED_MODULES)
metrics = Metrics(namespace=NAMESPACE, service=INGEST_SERVICE)
# LastModified is whole seconds (truncated); clocks within S3 and Lambda agree to well under one.
LAG_CLOCK_SLACK = timedelta(seconds=1)
_METRICS = threading.Lock()


class Outcome(StrEnum):
    """What an event did to its file."""

    # Outside the layout, an event the worker does not act on, or the removal
    # of a version the file is not.
    IGNORED = "ignored"
    # Already applied, or older than what the record reflects.
    DUPLICATE = "duplicate"
    # A newer event or a delete was recorded while this one was handled.
    SUPERSEDED = "superseded"
    PROCESSED = STATUS_PROCESSED
    FAILED = STATUS_FAILED
    DELETED = STATUS_DELETED
    # An object that arrived for a deleted file, removed.
    DISCARDED = "discarded"
    # A second object uploaded with a spent ticket, removed.
    SPENT = "spent"
    # A scan result recorded.
    SCANNED = "scanned"


@tracer.capture_method
def apply(event: S3Event, not_after: float) -> Outcome:
    """Apply one S3 event to its file's record. `not_after` (time.monotonic)
    is when extraction must stop for the invocation to finish in time."""
    file_key = FileKey.parse(event.key)
    if file_key is None:
        logger.warning("Ignored an object outside the upload layout", extra={"key": event.key})
        return Outcome.IGNORED
    logger.thread_safe_append_keys(correlation_id=file_key.file_id, fileId=file_key.file_id,
                                   eventName=event.event_name)
    try:
        if event.is_removed:
            return _remove(file_key, event, not_after)
        if event.is_created:
            return _create(file_key, event, not_after, event.version_id)
        logger.info("Ignored an event type the worker does not act on")
        return Outcome.IGNORED
    finally:
        # Log keys of one file must not tag the next lines on this thread.
        logger.thread_safe_remove_keys(["correlation_id", "fileId", "eventName"])


def _create(file_key: FileKey, event: S3Event, not_after: float, version_id: str | None,
            replaces_recorded: bool = False) -> Outcome:
    """Describe the object (`version_id`, or the current one) and record it.
    `replaces_recorded`: the recorded version was removed, so this one becomes
    the file although the ticket is spent."""
    if not_after - time.monotonic() < MIN_EXTRACT_S:
        raise OutOfTime("Too little of the invocation is left to process this file; it will be retried")
    table = clients.table()
    checked_version = None if replaces_recorded else version_id
    attempt = ingest_records.begin_attempt(table, file_key, event.order, checked_version)
    if not attempt.started:
        if attempt.item and attempt.item.get("status") == STATUS_DELETED:
            return _discard_late_object(file_key, event)
        if attempt.spent_by(checked_version):
            return _discard_second_object(file_key, event, version_id)
        logger.info("Skipped a duplicate or superseded event")
        return Outcome.DUPLICATE
    start = ExtractionStart(table, file_key, event.order, recorded=attempt.item is not None)
    try:
        return _record(file_key, event, not_after, version_id, checked_version, attempt, start)
    except ingest_records.Superseded:
        logger.info("A newer event was applied while the file waited to be extracted")
        return Outcome.SUPERSEDED
    except Exception:
        # The file's own failures are recorded states; whatever else stopped this
        # try (S3, DynamoDB, the invocation's time) must not count towards quarantine.
        start.give_back()
        raise


def _record(file_key: FileKey, event: S3Event, not_after: float, version_id: str | None,
            checked_version: str | None, attempt: Attempt, start: ExtractionStart) -> Outcome:
    table, bucket = clients.table(), event.bucket
    item = attempt.item or {}
    if attempt.count >= INGEST.quarantine_after_starts:
        state = _quarantined(file_key, bucket, version_id, attempt.count)
    else:
        # The worker died with this file one start short of quarantine: it is tried
        # once more as the only extraction, so that no batch-mate can be the cause.
        alone = attempt.count == INGEST.quarantine_after_starts - 1
        # A pending record's size is what its upload declared.
        declared = item["size"] if item.get("status") == STATUS_PENDING else None
        state = _examine(file_key, bucket, version_id, not_after, file_key.thumbnail_key(event.order), start,
                         alone, declared)
    previous_thumbnail = item.get("thumbnailKey")
    if previous_thumbnail and previous_thumbnail != state.thumbnail_key:
        # Superseded by this event whatever happens next; a newer event has its own key.
        objects.delete_all_versions(clients.s3(), bucket, previous_thumbnail)
    written_at = dynamo.now()
    if not usage.record_object_state(table, file_key, event.order, attempt.item, state, at=written_at,
                                     ticket_version=checked_version, scanning=clients.scanning()):
        if state.thumbnail_key:
            # Lost to a newer event, a delete or another version: nothing will ever point at it.
            objects.delete_all_versions(clients.s3(), bucket, state.thumbnail_key)
        # Another version's event, handled elsewhere meanwhile, may have spent the ticket.
        if checked_version is not None and ingest_records.spent_on_another(
                records.get(table, file_key.owner_id, file_key.file_id) or {}, checked_version):
            return _discard_second_object(file_key, event, version_id)
        logger.info("A newer event had already been applied; left the record as it was")
        return Outcome.SUPERSEDED
    if state.thumbnail_key and ingest_records.drop_infected_thumbnail(table, file_key, state.thumbnail_key):
        # Its scan found malware while it was extracted: nothing of it may be served.
        objects.delete_all_versions(clients.s3(), bucket, state.thumbnail_key)
    _count(state, lag_ms(event.at, state.last_modified, written_at))
    logger.info("Recorded file", extra={"status": state.status, "error": state.error})
    return Outcome(state.status)


def _examine(file_key: FileKey, bucket: str, version_id: str | None, not_after: float, thumbnail_key: str,
             start: ExtractionStart, alone: bool, declared: int | None) -> RecordedState:
    """What the record should say about the object. A thumbnail is stored
    under `thumbnail_key` before the record names it. `declared` is the size
    the object's upload ticket declared, if it had one."""
    head: dict = {}
    try:
        head, first_bytes = _head_and_first_bytes(bucket, file_key.key, version_id)
        if head["ContentLength"] > MAX_FILE_SIZE:
            raise FileRejected("too_large", f"{head['ContentLength']} bytes is over the {MAX_FILE_SIZE}-byte limit")
        if declared is not None and head["ContentLength"] > declared:
            return _oversized(file_key, bucket, head, declared)
        extraction = isolated.extract(_stored(bucket, file_key, head, first_bytes), not_after, start.count, alone)
        _count_reads(extraction)
        if extraction.thumbnail is None:
            return RecordedState.processed(head, extraction.metadata, thumbnail_key=None)
        clients.s3().put_object(Bucket=bucket, Key=thumbnail_key, Body=extraction.thumbnail,
                                ContentType=thumbnail.CONTENT_TYPE)
        return RecordedState.processed(head, extraction.metadata, thumbnail_key)
    except FileRejected as rejected:
        return RecordedState.failed(rejected.code, rejected.message, head)


def _oversized(file_key: FileKey, bucket: str, head: dict, declared: int) -> RecordedState:
    """An object bigger than its upload declared. S3 refuses that already (the
    ticket signs the length, or bounds it in the POST policy); should it get
    through, its bytes are removed rather than counted, and the file holds
    nothing against the quota beyond its place."""
    s3 = clients.s3()
    if head.get("VersionId"):
        objects.delete_version(s3, bucket, file_key.key, head["VersionId"])
    else:
        objects.delete_all_versions(s3, bucket, file_key.key)
    logger.warning("Removed an object bigger than its upload declared",
                   extra={"size": head["ContentLength"], "declared": declared})
    return RecordedState.failed(
        "too_large",
        f"{head['ContentLength']} bytes is more than the {declared} bytes its upload declared; it was removed")


def _quarantined(file_key: FileKey, bucket: str, version_id: str | None, starts: int) -> RecordedState:
    """The state of a file that took the worker down with it every time it was
    tried: failed for good, never extracted again (until `ops replay`)."""
    logger.error("Quarantined a file whose processing never finished", extra={"starts": starts})
    try:
        head = _head(bucket, file_key.key, version_id)
    except FileRejected as rejected:
        return RecordedState.failed(rejected.code, rejected.message)
    return RecordedState.failed(QUARANTINE_CODE, f"Processing this file stopped the worker {starts} times without "
                                                 "finishing, so it will not be tried again", head)


def _head(bucket: str, key: str, version_id: str | None) -> dict:
    return _found(objects.head(clients.s3(), bucket, key, version_id))


def _head_and_first_bytes(bucket: str, key: str, version_id: str | None) -> tuple[dict, bytes]:
    """The object described, and its first block read, in one GET: a small
    file is then read once, and every file one request fewer than a HEAD first."""
    return _found(objects.head_and_first_bytes(clients.s3(), bucket, key, version_id, reader.BLOCK_SIZE))


def _found(described: T | None) -> T:
    """What describing the object gave; None, from either call, is an object that is gone."""
    if described is None:
        raise FileRejected("object_missing", "The object was gone before it could be processed")
    return described


def _stored(bucket: str, file_key: FileKey, head: dict, first_bytes: bytes) -> StoredObject:
    return StoredObject(
        bucket=bucket,
        key=file_key.key,
        version_id=head.get("VersionId"),
        size=head["ContentLength"],
        content_type=head.get("ContentType", "application/octet-stream"),
        etag=head.get("ETag", "").strip('"'),
        first_bytes=first_bytes,
    )


def _remove(file_key: FileKey, event: S3Event, not_after: float) -> Outcome:
    table, s3 = clients.table(), clients.s3()
    item = records.get(table, file_key.owner_id, file_key.file_id)
    if ingest_records.is_superseded_removal(item, event.order):
        if item["status"] == STATUS_DELETED:
            # Finishes a delete that stopped between marking the file and giving its charge back.
            usage.release(table, file_key.owner_id, file_key.file_id, item)
        logger.info("Skipped a duplicate or superseded removal")
        return Outcome.DUPLICATE
    removed = event.removed_version
    if removed and item and item.get("versionId") not in (None, removed):
        # A version the file never was (a second upload, an older copy): the
        # recorded version stands, and becoming another one is the spent ticket's to refuse.
        logger.info("A version other than the recorded one was removed; the file is as recorded")
        return Outcome.IGNORED
    current = objects.head(s3, event.bucket, event.key)
    if current is not None:
        # The bucket is versioned: a version was removed by hand, and the file lives on.
        current_version = current.get("VersionId", "")  # "" where versioning is off
        if item and item.get("versionId") == current_version:
            logger.info("An older version was removed; the file is as recorded")
            return Outcome.IGNORED
        logger.info("The recorded version was removed; describing the one now current")
        return _create(file_key, event, not_after, current_version, replaces_recorded=True)
    # Before the record changes, so a failure here retries the whole removal.
    if item and item.get("thumbnailKey"):
        objects.delete_all_versions(s3, event.bucket, item["thumbnailKey"])
    if not ingest_records.apply_removal(table, file_key, event.order, dynamo.now()):
        logger.info("A newer event had already been applied; left the record as it was")
        return Outcome.SUPERSEDED
    usage.release(table, file_key.owner_id, file_key.file_id, item)
    logger.info("Marked file deleted")
    return Outcome.DELETED


@tracer.capture_method
def apply_scan(result: ScanResult) -> Outcome:
    """Record GuardDuty's result for the object version it scanned. An
    infected file keeps its bytes (for investigation; the bucket policy and
    the API refuse to serve them) but loses its thumbnail."""
    file_key = FileKey.parse(result.key)
    if file_key is None:
        logger.warning("Ignored a scan result outside the upload layout", extra={"key": result.key})
        return Outcome.IGNORED
    infected = result.state == SCAN_INFECTED
    # S3 names an object put while versioning was off "null"; the bucket is versioned from the start.
    version_id = result.version_id or "null"
    outcome = ingest_records.apply_scan_result(clients.table(), file_key, version_id, result.state, result.threats,
                                               result.at, drop_thumbnail=infected)
    if not outcome.applied:
        logger.info("Skipped a duplicate or stale scan result, or one for a deleted file or another version",
                    extra={"fileId": file_key.file_id, "versionId": version_id})
        return Outcome.DUPLICATE
    if infected and outcome.old.get("thumbnailKey"):
        objects.delete_all_versions(clients.s3(), result.bucket,
                                    outcome.old["thumbnailKey"])
    if result.state == SCAN_FAILED:
        # Counted once per recorded result, so a redelivered one does not page twice.
        with _METRICS:
            metrics.add_metric(name=SCANS_FAILED, unit=MetricUnit.Count, value=1)
    logger.info("Recorded a scan result", extra={"fileId": file_key.file_id, "ownerId": file_key.owner_id,
                                                 "scan": result.state, "result": result.result,
                                                 "threats": result.threats})
    return Outcome.SCANNED


def count_stuck_scans(at: datetime) -> int:
    """The sweep: how many uploaded files have waited for their scan longer
    than the bound at `at`, as ScansStuck. Emitted when it is 0 too, so that
    the alarm clears once they are rescanned."""
    bound = timedelta(seconds=scan_stuck_after_s(INGEST.visibility_timeout_s, INGEST.max_receive_count))
    stuck = ingest_records.count_scan_stuck(clients.table(), at - bound)
    with _METRICS:
        metrics.add_metric(name=SCANS_STUCK, unit=MetricUnit.Count, value=stuck)
    logger.info("Counted files waiting for their scan past the bound", extra={"stuck": stuck})
    return stuck


def _discard_late_object(file_key: FileKey, event: S3Event) -> Outcome:
    """An object that arrived for a file already deleted (a presigned POST used
    after its ticket was cancelled): its bytes must not outlive the file."""
    objects.delete_all_versions(clients.s3(), event.bucket, file_key.key)
    logger.info("Deleted an object that arrived after its file was deleted")
    return Outcome.DISCARDED


def _discard_second_object(file_key: FileKey, event: S3Event, version_id: str) -> Outcome:
    """Another object put under a key whose upload was already recorded (its
    presigned request used twice): the recorded version stays what the file
    is, and this one is removed rather than kept as a hidden version."""
    objects.delete_version(clients.s3(), event.bucket, file_key.key, version_id)
    logger.warning("Removed a second object uploaded with a spent ticket", extra={"versionId": version_id})
    return Outcome.SPENT


def _count_reads(extraction: Extraction) -> None:
    with _METRICS:
        metrics.add_metric(name=BYTES_FETCHED, unit=MetricUnit.Bytes, value=extraction.reads.bytes_fetched)
        metrics.add_metric(name=RANGE_REQUESTS, unit=MetricUnit.Count, value=extraction.reads.requests)
        if extraction.thumbnail_reads:
            metrics.add_metric(name=THUMBNAIL_BYTES_FETCHED, unit=MetricUnit.Bytes,
                               value=extraction.thumbnail_reads.bytes_fetched)


def lag_ms(event_time: datetime, last_modified: datetime | None, written_at: datetime) -> float | None:
    """From the event to its record; None when that cannot be this object's lag.

    S3 stamps an event when the request that stored the object completes, so
    an event time before the object's LastModified (which is never later than
    that) belongs to another object, and one after the record was written is
    a clock that is wrong. Such a lag is not emitted: canned events in the
    bench, 13 days older than the objects they named, made IngestLagMs read
    about 1.1e9 ms beside true lags of 1 to 8 s."""
    if last_modified is not None and event_time < last_modified - LAG_CLOCK_SLACK:
        return None
    if event_time > written_at + LAG_CLOCK_SLACK:
        return None
    return max(0.0, (written_at - event_time).total_seconds() * 1000)


def _count(state: RecordedState, lag: float | None) -> None:
    if lag is None:
        logger.warning("Event time is not this object's: no IngestLagMs", extra={
            "lastModified": str(state.last_modified)})
    with _METRICS:
        if lag is not None:
            metrics.add_metric(name=INGEST_LAG, unit=MetricUnit.Milliseconds, value=lag)
        metrics.add_metric(name=FILES_PROCESSED if state.status == STATUS_PROCESSED else FILES_FAILED,
                           unit=MetricUnit.Count, value=1)
    if state.status == STATUS_PROCESSED:
        return
    # The alarm watches the total; the per-code stream tells on-call which failure it is.
    with single_metric(
        name=FILES_FAILED,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": INGEST_SERVICE, **metrics.default_dimensions},
    ) as metric:
        metric.add_dimension(name="code", value=state.error["code"])
