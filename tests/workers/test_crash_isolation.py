"""One file's blast radius is that file: hard limits, quarantine, and the
thumbnail that must never outlive its record."""

import dataclasses
import faulthandler
import os
import signal
import threading
import time

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from contract import functions
from contract.ingest import INGEST
from contract.keys import THUMBNAIL_PREFIX, FileKey
from contract.table import QUARANTINE_CODE
from tests.workers.conftest import apply, put, record, ticketed
from tests.workers.s3_events import notification, s3_event, sqs_event
from tests.workers.test_ingest import png_bytes
from workers.extraction import isolated, limits, pool, reader, registry
from workers.ingest import handler as ingest
from workers.ingest.notifications import S3Event
from workers.storage import clients, ingest_records, objects


def hostile_text(monkeypatch, behaviour):
    """Files whose text starts with HOSTILE misbehave inside the parser, where
    no cooperative deadline is checked: as a parser stuck in C code would."""
    honest = registry.kind("text")

    def describe(source):
        if source.stream.peek(7)[:7] == b"HOSTILE":
            behaviour()
        return honest.describe(source)

    monkeypatch.setitem(registry._KINDS, "text", dataclasses.replace(honest, describe=describe))


def spin():
    while True:
        pass


def hog():
    return bytearray(4 * 1024 * 1024 * 1024)


def crash():
    # pytest's faulthandler, inherited by the forked child, would print this
    # deliberate crash into the run's output as if something had gone wrong.
    faulthandler.disable()
    os.kill(os.getpid(), signal.SIGSEGV)


def batch(context, files: dict[str, bytes]) -> dict:
    bodies = []
    for index, (name, body) in enumerate(files.items()):
        key = f"incoming/alice/{name}/{name}.txt"
        put(key, body)
        bodies.append(notification(s3_event(key, sequencer=f"{index + 1:02d}")))
    return ingest.handler(sqs_event(*bodies), context)


@pytest.mark.parametrize(
    ("behaviour", "code", "says"),
    [(spin, "too_large", "CPU time"), (hog, "too_large", "memory"), (crash, "processing_crashed", "SIGSEGV")],
)
def test_a_file_that_breaks_its_parser_fails_alone(aws, context, monkeypatch, behaviour, code, says):
    hostile_text(monkeypatch, behaviour)
    monkeypatch.setattr(limits, "EXTRACT_CPU_SECONDS", 1)
    response = batch(context, {"before": b"fine\n", "evil": b"HOSTILE\n", "after": b"also fine\n"})
    assert response == {"batchItemFailures": []}
    evil = record("alice", "evil")
    assert evil["status"] == "failed" and evil["error"]["code"] == code and says in evil["error"]["message"]
    assert record("alice", "before")["status"] == record("alice", "after")["status"] == "processed"


def test_a_file_whose_starts_never_finished_is_quarantined_without_being_extracted(aws, context, monkeypatch):
    hostile_text(monkeypatch, lambda: pytest.fail("a quarantined file must not be extracted"))
    key = "incoming/alice/evil/evil.txt"
    ticketed(key, 8)
    put(key, b"HOSTILE\n")
    event = s3_event(key, sequencer="01")
    # Each time, the worker died with the file (Lambda's memory kill, say) and
    # the message came back: the starts were noted, never finished.
    died_with(key, INGEST.quarantine_after_starts)
    response = ingest.handler(sqs_event(notification(event)), context)
    assert response == {"batchItemFailures": []}
    item = record("alice", "evil")
    assert item["status"] == "failed" and item["error"]["code"] == QUARANTINE_CODE
    assert item["size"] == len(b"HOSTILE\n")
    assert ingest_records.ATTEMPTS not in item


def died_with(key: str, times: int) -> None:
    """The worker died `times` while extracting the file: its starts were counted, never finished."""
    for _ in range(times):
        ingest_records.ExtractionStart(clients.table(), FileKey.parse(key), "01".ljust(64, "0"), recorded=True).count()


def transient(code: str, operation: str) -> ClientError:
    """What a client raises once botocore's own retries are spent."""
    return ClientError({"Error": {"Code": code, "Message": "try again"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                       operation)


def test_a_file_meeting_transient_s3_and_dynamodb_errors_is_not_quarantined_and_ends_processed(
        aws, context, on_aws_call):
    key = "incoming/alice/img/photo.png"
    ticketed(key, len(png_bytes()))
    put(key, png_bytes(), "image/png")
    # One per delivery, each after the attempt began: describing the object,
    # storing its thumbnail, writing its record.
    planned = [("GetObject", "SlowDown"), ("PutObject", "InternalError"),
               ("TransactWriteItems", "ProvisionedThroughputExceededException")]

    def fail_as_planned(event_name: str, **_) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if planned and planned[0][0] == operation:
            raise transient(planned.pop(0)[1], operation)

    for operation in ("s3.GetObject", "s3.PutObject", "dynamodb.TransactWriteItems"):
        on_aws_call(f"before-call.{operation}", fail_as_planned)
    body = notification(s3_event(key, sequencer="01"))
    while planned:
        with pytest.raises(BatchProcessingError):
            ingest.handler(sqs_event(body), context)
    assert ingest.handler(sqs_event(body), context) == {"batchItemFailures": []}
    item = record("alice", "img")
    assert item["status"] == "processed" and item["error"] is None


def test_batch_mates_waiting_beside_a_file_the_worker_dies_with_are_not_charged_a_start(aws, context, monkeypatch,
                                                                                          on_aws_call):
    monkeypatch.setattr(isolated, "_SLOTS", isolated.Slots(1))
    hostile_text(monkeypatch, lambda: (time.sleep(1), crash()))
    names = ["evil", "mate0", "mate1", "mate2"]
    for name in names:
        ticketed(f"incoming/alice/{name}/{name}.txt", len(b"innocent\n"))
        put(f"incoming/alice/{name}/{name}.txt", b"HOSTILE\n" if name == "evil" else b"innocent\n")
    evil_started = threading.Event()

    def mates_after_evil(params, **_) -> None:
        if "evil" not in str(params):
            evil_started.wait(10)

    on_aws_call("before-call.s3.GetObject", mates_after_evil)
    # The worker dies while the evil file is being extracted: what its records
    # say at that moment is all that survives.
    at_death: dict[str, int] = {}

    def die_meanwhile() -> None:
        time.sleep(0.5)
        at_death.update({name: record("alice", name).get(ingest_records.ATTEMPTS, 0) for name in names})

    real_run = pool.Pool.run

    def run(self, work, *args, **kwargs):
        if work.args[0].key.endswith("evil.txt"):
            evil_started.set()
            observer = threading.Thread(target=die_meanwhile)
            observer.start()
            try:
                return real_run(self, work, *args, **kwargs)
            finally:
                observer.join()
        return real_run(self, work, *args, **kwargs)

    monkeypatch.setattr(pool.Pool, "run", run)
    batch_of_keys(context, *(f"incoming/alice/{name}/{name}.txt" for name in names))
    assert at_death == {"evil": 1, "mate0": 0, "mate1": 0, "mate2": 0}


def test_a_file_the_worker_died_with_three_times_is_tried_once_more_alone(aws, context, monkeypatch):
    names = ["suspect", *(f"mate{i}" for i in range(5))]
    for name in names:
        ticketed(f"incoming/alice/{name}/{name}.txt", 8)
        put(f"incoming/alice/{name}/{name}.txt", f"{name}\n".encode())
    # Each time it was extracted beside others, any of which may have killed the worker.
    died_with("incoming/alice/suspect/suspect.txt", INGEST.quarantine_after_starts - 1)
    running: set[str] = set()
    beside_suspect: list[set[str]] = []
    guard = threading.Lock()
    real_run = pool.Pool.run

    def run(self, work, *args, **kwargs):
        name = work.args[0].key.split("/")[2]
        with guard:
            running.add(name)
            beside_suspect.extend([running - {"suspect"}] if "suspect" in running else [])
        try:
            time.sleep(0.1)
            return real_run(self, work, *args, **kwargs)
        finally:
            with guard:
                running.discard(name)

    monkeypatch.setattr(pool.Pool, "run", run)
    assert batch_of_keys(context, *(f"incoming/alice/{name}/{name}.txt" for name in names)) == {"batchItemFailures": []}
    assert {name: record("alice", name)["status"] for name in names} == dict.fromkeys(names, "processed")
    assert beside_suspect == [set()]


def test_a_finished_file_starts_its_count_again(aws, context):
    key = "incoming/alice/f1/notes.txt"
    put(key, b"hello\n")
    for sequencer in ("01", "02", "03", "04"):
        ingest.handler(sqs_event(notification(s3_event(key, sequencer=sequencer))), context)
        assert record("alice", "f1")["status"] == "processed"


def test_an_object_without_a_ticket_leaves_no_half_written_record(aws, context):
    key = "incoming/alice/f1/no-ticket.txt"
    put(key, b"hello\n")
    ingest_records.begin_attempt(clients.table(), FileKey.parse(key), "01".ljust(64, "0"))
    assert record("alice", "f1") is None


def test_the_quarantine_comes_before_the_dead_letter_queue():
    assert INGEST.quarantine_after_starts < INGEST.max_receive_count


# Longer than the first block, which the GET that describes a file reads: the
# extraction's own reads go to S3 (the slow one, here) for the rest.
BIG_CSV = b"a,b\n" + b"1,2\n" * (reader.BLOCK_SIZE // 4 + 1024)


class SlowS3:
    """An S3 that answers every ranged GET, slowly."""

    def __init__(self, delay_s: float) -> None:
        self._client = clients.s3()
        self._delay_s = delay_s

    def get_object(self, **params):
        time.sleep(self._delay_s)
        return self._client.get_object(**params)


def test_a_slow_s3_is_not_recorded_as_a_bad_file(aws, context, monkeypatch):
    monkeypatch.setattr(limits, "EXTRACT_SECONDS", 0.1)
    monkeypatch.setattr(clients, "ranged_reader", lambda not_after: SlowS3(0.3))
    put("incoming/alice/f1/a.csv", BIG_CSV, "text/csv")
    response = batch_of_keys(context, "incoming/alice/f1/a.csv")
    assert response == {"batchItemFailures": []}
    assert record("alice", "f1")["status"] == "processed"


def test_a_slow_s3_past_the_invocation_limit_retries_the_file_without_counting_it(aws, monkeypatch):
    from local.runtime import FunctionSpec, LambdaContext

    monkeypatch.setattr(clients, "ranged_reader", lambda not_after: SlowS3(3))
    ticketed("incoming/alice/f1/a.csv", len(BIG_CSV))
    put("incoming/alice/f1/a.csv", BIG_CSV, "text/csv")
    spec = FunctionSpec(name="f", handler=functions.ingest_worker().handler, timeout_s=2.5, memory_mb=1024,
                        region="us-east-1")
    short = LambdaContext(spec, spec.lambda_environment(), "req-2", time.time() + 2.5)
    # A batch whose every record failed is an invocation error: all of it comes back.
    with pytest.raises(BatchProcessingError):
        batch_of_keys(short, "incoming/alice/f1/a.csv")
    item = record("alice", "f1")
    assert item["status"] == "pending" and item[ingest_records.ATTEMPTS] == 0


def batch_of_keys(context, *keys):
    bodies = [notification(s3_event(key, sequencer=f"{i + 1:02d}")) for i, key in enumerate(keys)]
    return ingest.handler(sqs_event(*bodies), context)


def thumbnails_of(file_id: str) -> list[str]:
    listed = clients.s3().list_object_versions(Bucket=clients.bucket_name(),
                                               Prefix=f"{THUMBNAIL_PREFIX}alice/{file_id}/")
    return [entry["Key"] for entry in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def test_a_delete_between_thumbnail_and_record_leaves_no_thumbnail(aws, context, monkeypatch):
    key = "incoming/alice/img/photo.png"
    put(key, png_bytes(), "image/png")
    extract = isolated.extract

    def extract_then_delete(obj, not_after, *how):
        extraction = extract(obj, not_after, *how)
        objects.delete_all_versions(clients.s3(), clients.bucket_name(), key)
        apply(S3Event(s3_event(key, "ObjectRemoved:Delete", sequencer="02")))
        return extraction

    monkeypatch.setattr(isolated, "extract", extract_then_delete)
    batch_of_keys(context, key)
    assert record("alice", "img")["status"] == "deleted"
    assert thumbnails_of("img") == []


def test_overwriting_an_image_with_text_removes_its_thumbnail(aws, context):
    key = "incoming/alice/img/photo.png"
    put(key, png_bytes(), "image/png")
    ingest.handler(sqs_event(notification(s3_event(key, sequencer="01"))), context)
    assert len(thumbnails_of("img")) == 1
    put(key, b"not an image after all\n", "text/plain")
    ingest.handler(sqs_event(notification(s3_event(key, sequencer="02"))), context)
    assert record("alice", "img")["thumbnailKey"] is None
    assert thumbnails_of("img") == []


def test_overwriting_an_image_with_another_keeps_only_the_new_thumbnail(aws, context):
    key = "incoming/alice/img/photo.png"
    put(key, png_bytes(), "image/png")
    ingest.handler(sqs_event(notification(s3_event(key, sequencer="01"))), context)
    put(key, png_bytes(), "image/png")
    ingest.handler(sqs_event(notification(s3_event(key, sequencer="02"))), context)
    assert thumbnails_of("img") == [record("alice", "img")["thumbnailKey"]]


def test_an_older_image_event_losing_to_a_newer_one_removes_its_own_thumbnail(aws, context):
    key = "incoming/alice/img/photo.png"
    put(key, png_bytes(), "image/png")
    extract = isolated.extract
    newer = s3_event(key, sequencer="02")

    landed = []

    def extract_while_a_newer_event_lands(obj, not_after, *how):
        extraction = extract(obj, not_after, *how)
        if not landed:
            landed.append(newer)
            apply(S3Event(newer))
        return extraction

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(isolated, "extract", extract_while_a_newer_event_lands)
        apply(S3Event(s3_event(key, sequencer="01")))
    assert thumbnails_of("img") == [record("alice", "img")["thumbnailKey"]]


@pytest.mark.parametrize("deleted", ["between_the_deletes_read_and_its_write", "before_the_worker_commits"])
def test_a_file_deleted_while_the_worker_stores_its_thumbnail_leaves_no_thumbnail(aws, on_aws_call, deleted):
    from workers.api import files

    key = "incoming/alice/img/photo.png"
    ticketed(key, len(png_bytes()))
    put(key, png_bytes(), "image/png")
    read, committed = threading.Event(), threading.Event()
    storing_thumbnail, deleting = [], []

    def delete_reads_then_waits(**_) -> None:
        if threading.current_thread().name == "delete":
            read.set()
            committed.wait(10)

    def note_the_thumbnail(params, **_) -> None:
        storing_thumbnail.append(params["url_path"].split("?")[0].endswith(".webp"))

    def delete_once_the_thumbnail_is_stored(**_) -> None:
        if not storing_thumbnail.pop():
            return
        if deleted == "before_the_worker_commits":
            files.delete_file("alice", "img")
            return
        deleting.append(threading.Thread(target=files.delete_file, args=("alice", "img"), name="delete"))
        deleting[0].start()
        read.wait(10)

    on_aws_call("after-call.dynamodb.GetItem", delete_reads_then_waits)
    on_aws_call("before-call.s3.PutObject", note_the_thumbnail)
    on_aws_call("after-call.s3.PutObject", delete_once_the_thumbnail_is_stored)
    apply(S3Event(s3_event(key, sequencer="01")))
    committed.set()
    for thread in deleting:
        thread.join()
    assert record("alice", "img")["status"] == "deleted"
    assert thumbnails_of("img") == []
