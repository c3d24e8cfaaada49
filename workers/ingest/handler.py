"""The ingest worker: SQS messages carrying S3 notifications in, file records out.

One SQS message may hold several S3 records; they are handled in order, and any
transient failure fails the whole message so SQS redelivers it (the records that
already succeeded are idempotent, so the redelivery changes nothing for them).

A batch's messages run side by side on a bounded pool of threads, except that
messages about the same file run in batch order, one after another
(workers/ingest/batch.py). Log keys are per thread, and metrics are added
under a lock: Powertools' metric set is not thread-safe.
"""

from __future__ import annotations

import gc

# Init makes only what lives as long as the environment, so collecting while
# it runs is wasted work (about a fifth of the import); the end of this module
# freezes what init made and turns collection back on.
gc.disable()

import functools
import os
import threading
import time

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
# Before anything imports pydantic: Powertools' batch utility imports every
# parser model (0.2 s) when it finds pydantic already loaded.
from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from contract.functions import ENV_STACK
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
    STACK_DIMENSION,
    THUMBNAIL_BYTES_FETCHED,
)
from contract.table import QUARANTINE_CODE, STATUS_DELETED, STATUS_FAILED, STATUS_PENDING, STATUS_PROCESSED
from workers.errors import FileRejected, OutOfTime, is_not_found
from workers.extraction import Extraction, StoredObject, isolated, thumbnail
from workers.ingest.batch import ConcurrentBatchProcessor
from workers.ingest.notifications import S3Event, TestEvent, parse_body
from workers.storage import clients, objects, records, usage

# What a record keeps back from the invocation's remaining time to store its
# thumbnail, write itself and flush metrics: 2 s, or a quarter of a short
# timeout. With less than the minimum left to extract, it waits for a later batch.
RECORD_RESERVE_S = 2.0
RECORD_RESERVE_SHARE = 0.25
MIN_EXTRACT_S = 0.25
# Messages handled at once: a full batch. Extraction children are bounded
# apart, by the function's memory (workers/extraction/isolated.py).
CONCURRENT_MESSAGES = 10

logger = Logger(service=INGEST_SERVICE)
tracer = Tracer(service=INGEST_SERVICE, patch_modules=clients.TRACED_MODULES)
metrics = Metrics(namespace=NAMESPACE, service=INGEST_SERVICE)
# Stacks share an account and a namespace; alarms select their own stack's series.
metrics.set_default_dimensions(**{STACK_DIMENSION: os.environ[ENV_STACK]})
_METRICS = threading.Lock()


def files_of(record: dict) -> list[tuple[str, str] | str]:
    """The files an SQS message's S3 records are about, as (owner, file id),
    or the key itself outside the layout; none when the body does not parse."""
    try:
        body = parse_body(record["body"])
    except Exception:  # noqa: BLE001 - the handler reports it; here it only means "no file"
        return []
    if isinstance(body, TestEvent):
        return []
    return [(file_key.owner_id, file_key.file_id) if (file_key := FileKey.parse(event.key)) else event.key
            for event in body.Records]


processor = ConcurrentBatchProcessor(event_type=EventType.SQS, files_of=files_of, max_workers=CONCURRENT_MESSAGES)


def message_handler(record: SQSRecord, lambda_context, reserve_s: float = RECORD_RESERVE_S) -> None:
    """One SQS message (Powertools passes it as `record`, its own name for it)."""
    _forget_file()
    body = parse_body(record.body)
    if isinstance(body, TestEvent):
        logger.info("Acknowledged S3 test event")
        return
    for s3_event in body.Records:
        not_after = time.monotonic() + lambda_context.get_remaining_time_in_millis() / 1000 - reserve_s
        handle_s3_event(s3_event, not_after)


@tracer.capture_method
def handle_s3_event(event: S3Event, not_after: float | None = None) -> str:
    """Apply one S3 event to the file's record. Returns what happened, for logs and tests.
    `not_after` is when extraction must stop for the invocation to finish in time."""
    _forget_file()
    file_key = FileKey.parse(event.key)
    if file_key is None:
        logger.warning("Ignored an object outside the upload layout", extra={"key": event.key})
        return "ignored"
    logger.thread_safe_append_keys(correlation_id=file_key.file_id, fileId=file_key.file_id,
                                   eventName=event.eventName)

    if event.is_removed:
        return _remove(file_key, event, not_after)
    if event.is_created:
        return _create(file_key, event, not_after, event.s3.object.versionId)
    logger.info("Ignored an event type the worker does not act on")
    return "ignored"


def _create(file_key: FileKey, event: S3Event, not_after: float | None, version_id: str | None,
            replaces_recorded: bool = False) -> str:
    """Describe the object (`version_id`, or the current one) and record it.
    `replaces_recorded`: the recorded version was removed, so this one becomes
    the file although the ticket is spent."""
    if not_after is not None and not_after - time.monotonic() < MIN_EXTRACT_S:
        raise OutOfTime("Too little of the invocation is left to process this file; it will be retried")
    table = clients.table()
    checked_version = None if replaces_recorded else version_id
    attempt = records.begin_attempt(table, file_key, event.order, checked_version)
    if not attempt.started:
        if attempt.item and attempt.item.get("status") == STATUS_DELETED:
            return _discard_late_object(file_key, event)
        if attempt.spent_by(checked_version):
            return _discard_second_object(file_key, event, version_id)
        logger.info("Skipped a duplicate or superseded event")
        return "duplicate"
    start = records.ExtractionStart(table, file_key, event.order, recorded=attempt.item is not None)
    try:
        return _record(file_key, event, not_after, version_id, checked_version, attempt, start)
    except records.Superseded:
        logger.info("A newer event was applied while the file waited to be extracted")
        return "superseded"
    except Exception:
        # The file's own failures are recorded states; whatever else stopped this
        # try (S3, DynamoDB, the invocation's time) must not count towards quarantine.
        start.give_back()
        raise


def _record(file_key: FileKey, event: S3Event, not_after: float | None, version_id: str | None,
            checked_version: str | None, attempt: records.Attempt, start: records.ExtractionStart) -> str:
    table = clients.table()
    previous_thumbnail = (attempt.item or {}).get("thumbnailKey")
    thumbnail_key = file_key.thumbnail_key(event.order)
    if attempt.count >= INGEST.quarantine_after_starts:
        state = _quarantined(file_key, event.s3.bucket.name, version_id, attempt.count)
    else:
        # The worker died with this file one start short of quarantine: it is tried
        # once more as the only extraction, so that no batch-mate can be the cause.
        alone = attempt.count == INGEST.quarantine_after_starts - 1
        # A pending record's size is what its upload declared.
        item = attempt.item or {}
        declared = item["size"] if item.get("status") == STATUS_PENDING else None
        state = _examine(file_key, event.s3.bucket.name, version_id, not_after, thumbnail_key, start, alone,
                         declared)
    if previous_thumbnail and previous_thumbnail != state["thumbnail_key"]:
        # Superseded by this event whatever happens next; a newer event has its own key.
        objects.delete_all_versions(clients.s3(), event.s3.bucket.name, previous_thumbnail)
    written_at = records.now()
    if not usage.record_object_state(table, file_key, event.order, attempt.item, at=written_at,
                                     ticket_version=checked_version, **state):
        if state["thumbnail_key"]:
            # Lost to a newer event, a delete or another version: nothing will ever point at it.
            objects.delete_all_versions(clients.s3(), event.s3.bucket.name, state["thumbnail_key"])
        # Another version's event, handled elsewhere meanwhile, may have spent the ticket.
        if checked_version is not None and records.spent_on_another(
                records.get(table, file_key.owner_id, file_key.file_id) or {}, checked_version):
            return _discard_second_object(file_key, event, version_id)
        logger.info("A newer event had already been applied; left the record as it was")
        return "superseded"
    _count(state["status"], state["error"], lag_ms=(written_at - event.eventTime).total_seconds() * 1000)
    logger.info("Recorded file", extra={"status": state["status"], "error": state["error"]})
    return state["status"]


def _examine(file_key: FileKey, bucket: str, version_id: str | None, not_after: float | None,
             thumbnail_key: str, start: records.ExtractionStart, alone: bool, declared: int | None) -> dict:
    """What the record should say about the object: processed with its metadata,
    or failed with the reason the file itself cannot be accepted. A thumbnail
    is stored under `thumbnail_key` before the record names it. `declared` is
    the size the object's upload ticket declared, if it had one."""
    head: dict = {}
    try:
        head = _head(bucket, file_key.key, version_id)
        if head["ContentLength"] > MAX_FILE_SIZE:
            raise FileRejected("too_large", f"{head['ContentLength']} bytes is over the {MAX_FILE_SIZE}-byte limit")
        if declared is not None and head["ContentLength"] > declared:
            return _oversized(file_key, bucket, head, declared)
        extraction = isolated.extract(_stored(bucket, file_key, head), not_after, start.count, alone)
        _count_reads(extraction)
        if extraction.thumbnail is not None:
            clients.s3().put_object(Bucket=bucket, Key=thumbnail_key, Body=extraction.thumbnail,
                                    ContentType=thumbnail.CONTENT_TYPE)
        outcome = {"status": STATUS_PROCESSED, "metadata": extraction.metadata, "error": None,
                   "thumbnail_key": thumbnail_key if extraction.thumbnail is not None else None}
    except FileRejected as rejected:
        outcome = {"status": STATUS_FAILED, "metadata": None, "error": rejected.as_error(),
                   "thumbnail_key": None}
    return {**outcome, **_described(head)}


def _oversized(file_key: FileKey, bucket: str, head: dict, declared: int) -> dict:
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
    message = f"{head['ContentLength']} bytes is more than the {declared} bytes its upload declared; it was removed"
    return {"status": STATUS_FAILED, "metadata": None, "thumbnail_key": None,
            "error": {"code": "too_large", "message": message}, **_described({})}


def _quarantined(file_key: FileKey, bucket: str, version_id: str | None, starts: int) -> dict:
    """The state of a file that took the worker down with it every time it was
    tried: failed for good, never extracted again (until `ops replay`)."""
    logger.error("Quarantined a file whose processing never finished", extra={"starts": starts})
    try:
        head = _head(bucket, file_key.key, version_id)
    except FileRejected as rejected:
        return {"status": STATUS_FAILED, "metadata": None, "error": rejected.as_error(),
                "thumbnail_key": None, **_described({})}
    message = (f"Processing this file stopped the worker {starts} times without finishing, "
               "so it will not be tried again")
    return {"status": STATUS_FAILED, "metadata": None, "thumbnail_key": None,
            "error": {"code": QUARANTINE_CODE, "message": message}, **_described(head)}


def _stored(bucket: str, file_key: FileKey, head: dict) -> StoredObject:
    return StoredObject(
        bucket=bucket,
        key=file_key.key,
        version_id=head.get("VersionId"),
        size=head["ContentLength"],
        content_type=head.get("ContentType", "application/octet-stream"),
        etag=head.get("ETag", "").strip('"'),
    )


def _described(head: dict) -> dict:
    return {
        "size": head.get("ContentLength"),
        "content_type": head.get("ContentType"),
        "etag": head.get("ETag", "").strip('"') or None,
        "version_id": head.get("VersionId"),
    }


def _count_reads(extraction: Extraction) -> None:
    with _METRICS:
        metrics.add_metric(name=BYTES_FETCHED, unit=MetricUnit.Bytes, value=extraction.reads.bytes_fetched)
        metrics.add_metric(name=RANGE_REQUESTS, unit=MetricUnit.Count, value=extraction.reads.requests)
        if extraction.thumbnail_reads:
            metrics.add_metric(name=THUMBNAIL_BYTES_FETCHED, unit=MetricUnit.Bytes,
                               value=extraction.thumbnail_reads.bytes_fetched)


def _forget_file() -> None:
    """Log keys of one file must not tag the next file's lines on this thread."""
    logger.thread_safe_remove_keys(["correlation_id", "fileId", "eventName"])


def _head(bucket: str, key: str, version_id: str | None) -> dict:
    params = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    try:
        return clients.s3().head_object(**params)
    except ClientError as exc:
        if is_not_found(exc):
            raise FileRejected("object_missing", "The object was gone before it could be processed") from exc
        raise


def _remove(file_key: FileKey, event: S3Event, not_after: float | None) -> str:
    table, s3 = clients.table(), clients.s3()
    item = records.get(table, file_key.owner_id, file_key.file_id)
    if records.is_superseded_removal(item, event.order):
        if item["status"] == STATUS_DELETED:
            # Finishes a delete that stopped between marking the file and giving its charge back.
            usage.release(table, file_key.owner_id, file_key.file_id, item)
        logger.info("Skipped a duplicate or superseded removal")
        return "duplicate"
    removed = event.removed_version
    if removed and item and item.get("versionId") not in (None, removed):
        # A version the file never was (a second upload, an older copy): the
        # recorded version stands, and becoming another one is the spent ticket's to refuse.
        logger.info("A version other than the recorded one was removed; the file is as recorded")
        return "ignored"
    current = _current_version(event)
    if current is not None:
        # The bucket is versioned: a version was removed by hand, and the file lives on.
        if item and item.get("versionId") == current:
            logger.info("An older version was removed; the file is as recorded")
            return "ignored"
        logger.info("The recorded version was removed; describing the one now current")
        return _create(file_key, event, not_after, current, replaces_recorded=True)
    # Before the record changes, so a failure here retries the whole removal.
    if item and item.get("thumbnailKey"):
        objects.delete_all_versions(s3, event.s3.bucket.name, item["thumbnailKey"])
    if not records.apply_removal(table, file_key, event.order, records.now()):
        logger.info("A newer event had already been applied; left the record as it was")
        return "superseded"
    usage.release(table, file_key.owner_id, file_key.file_id, item)
    logger.info("Marked file deleted")
    return STATUS_DELETED


def _current_version(event: S3Event) -> str | None:
    """The version id the key now has, "" where versioning is off, None when gone."""
    try:
        return clients.s3().head_object(Bucket=event.s3.bucket.name, Key=event.key).get("VersionId", "")
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _discard_late_object(file_key: FileKey, event: S3Event) -> str:
    """An object that arrived for a file already deleted (a presigned POST used
    after its ticket was cancelled): its bytes must not outlive the file."""
    objects.delete_all_versions(clients.s3(), event.s3.bucket.name, file_key.key)
    logger.info("Deleted an object that arrived after its file was deleted")
    return "discarded"


def _discard_second_object(file_key: FileKey, event: S3Event, version_id: str) -> str:
    """Another object put under a key whose upload was already recorded (its
    presigned request used twice): the recorded version stays what the file
    is, and this one is removed rather than kept as a hidden version."""
    objects.delete_version(clients.s3(), event.s3.bucket.name, file_key.key, version_id)
    logger.warning("Removed a second object uploaded with a spent ticket", extra={"versionId": version_id})
    return "spent"


def _count(status: str, error: dict | None, lag_ms: float) -> None:
    with _METRICS:
        metrics.add_metric(name=INGEST_LAG, unit=MetricUnit.Milliseconds, value=lag_ms)
        metrics.add_metric(name=FILES_PROCESSED if status == STATUS_PROCESSED else FILES_FAILED,
                           unit=MetricUnit.Count, value=1)
    if status == STATUS_PROCESSED:
        return
    # The alarm watches the total; the per-code stream tells on-call which failure it is.
    with single_metric(
        name=FILES_FAILED,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": INGEST_SERVICE, **metrics.default_dimensions},
    ) as metric:
        metric.add_dimension(name="code", value=error["code"])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    reserve_s = min(RECORD_RESERVE_S,
                    context.get_remaining_time_in_millis() / 1000 * RECORD_RESERVE_SHARE)
    return process_partial_response(event=event, record_handler=functools.partial(message_handler, reserve_s=reserve_s),
                                    processor=processor, context=context)


# Init's objects move to the permanent generation: later collections skip them, and
# the extraction children forked per file do not copy the pages they live on
# by touching them (the gc.freeze documentation's advice for fork).
gc.freeze()
gc.enable()
