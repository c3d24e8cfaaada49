"""A batch's files are handled side by side, and nothing else changes: each
file's events apply in batch order, failures are reported per message in batch order, hostile
files still hurt only themselves, and the invocation's deadline still holds."""

import contextlib
import logging
import os
import select
import sys
import threading
import time

import pytest

from contract import functions
from local.runtime import FunctionSpec, LambdaContext
from tests.workers.conftest import put, record, ticketed
from tests.workers.s3_events import notification, s3_event, s3_test_event_body, sqs_event
from tests.workers.test_crash_isolation import BIG_CSV, SlowS3, crash, hog, hostile_text, spin
from workers.extraction import isolated, isolation, limits, registry
from workers.ingest import file_events
from workers.ingest import handler as ingest
from workers.ingest.batch import chains
from workers.storage import clients, ingest_records


def failed_ids(response) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def created(key: str, sequencer: str = "01") -> str:
    return notification(s3_event(key, sequencer=sequencer))


def test_records_sharing_a_file_form_one_chain_in_batch_order():
    files = [{"a"}, {"b"}, {"a"}, {"c", "b"}, set(), {"c"}, {"d"}]
    assert sorted(chains(files, lambda touched: touched)) == [[0, 2], [1, 3, 5], [4], [6]]


def test_files_of_a_batch_are_handled_at_the_same_time(aws, context, on_aws_call):
    keys = [f"incoming/alice/f{i}/notes.txt" for i in range(3)]
    for key in keys:
        put(key, b"words\n")
    # Each file's describing GET waits for the other two: handled one after another,
    # the first would wait alone and fail.
    meeting = threading.Barrier(len(keys), timeout=10)

    def meet(**_) -> None:
        meeting.wait()

    on_aws_call("before-call.s3.GetObject", meet)
    _, response = run(context, *(created(key) for key in keys))
    assert response == {"batchItemFailures": []}
    assert {record("alice", f"f{i}")["status"] for i in range(3)} == {"processed"}


def test_events_of_one_file_apply_in_batch_order_while_other_files_run(aws, context, monkeypatch):
    key, other = "incoming/alice/f1/notes.txt", "incoming/alice/f2/notes.txt"
    put(key, b"first\n")
    put(other, b"other\n")
    applied: list[tuple[str, str]] = []
    handle = file_events.apply

    def noting(event, not_after):
        # Slow enough that a second thread on the same file would overtake.
        time.sleep(0.05 if event.s3.get_object.get("sequencer") == "01" else 0)
        outcome = handle(event, not_after)
        applied.append((event.key, event.s3.get_object.get("sequencer")))
        return outcome

    monkeypatch.setattr(file_events, "apply", noting)
    removal = notification(s3_event(key, "ObjectRemoved:Delete", sequencer="03"))
    _, response = run(context, created(key, "01"), created(other, "01"), created(key, "02"), removal)
    assert response == {"batchItemFailures": []}
    assert [sequencer for touched, sequencer in applied if touched == key] == ["01", "02", "03"]
    # The object is still there, so the removal left the file as the last create recorded it.
    assert record("alice", "f1")["status"] == record("alice", "f2")["status"] == "processed"


def test_failures_are_reported_in_batch_order_as_before(aws, context, on_aws_call):
    keys = [f"incoming/{owner}/f{i}/doc.txt" for i, owner in enumerate(["alice", "bob", "alice", "bob", "alice"])]
    for key in keys:
        put(key)

    def throttle_bob(params, **_):
        if "USER#bob" in str(params):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "UpdateItem")

    on_aws_call("before-call.dynamodb.UpdateItem", throttle_bob)
    event, response = run(context, "{broken", *(created(key) for key in keys), s3_test_event_body(), "[]")
    ids = [message["messageId"] for message in event["Records"]]
    assert failed_ids(response) == [ids[0], ids[2], ids[4], ids[-1]]
    assert [record("alice", f"f{i}")["status"] for i in (0, 2, 4)] == ["processed"] * 3


def test_a_batch_that_fails_whole_is_still_an_invocation_error(aws, context):
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):
        run(context, "{broken", "[]", "not json")


@pytest.mark.parametrize(
    ("behaviour", "code"), [(spin, "too_large"), (hog, "too_large"), (crash, "processing_crashed")])
def test_a_hostile_file_among_innocent_ones_fails_alone_while_they_run_beside_it(
        aws, context, monkeypatch, behaviour, code):
    hostile_text(monkeypatch, behaviour)
    monkeypatch.setattr(limits, "EXTRACT_CPU_SECONDS", 1)
    files = {"evil": b"HOSTILE\n", **{f"fine{i}": f"innocent {i}\n".encode() for i in range(6)}}
    for name, body in files.items():
        put(f"incoming/alice/{name}/{name}.txt", body)
    _, response = run(context, *(created(f"incoming/alice/{name}/{name}.txt") for name in files))
    assert response == {"batchItemFailures": []}
    evil = record("alice", "evil")
    assert evil["status"] == "failed" and evil["error"]["code"] == code
    assert {record("alice", f"fine{i}")["status"] for i in range(6)} == {"processed"}


def test_files_past_the_invocation_deadline_are_retried_without_counting_and_the_rest_recorded(aws, monkeypatch):
    slow_key, quick_keys = "incoming/alice/slow/a.csv", [f"incoming/alice/q{i}/b.txt" for i in range(3)]
    ticketed(slow_key, len(BIG_CSV))
    put(slow_key, BIG_CSV, "text/csv")
    for key in quick_keys:
        put(key, b"quick\n")
    slow = SlowS3For(slow_key, 3)
    monkeypatch.setattr(clients, "ranged_reader", lambda not_after: slow)
    event, response = run(short_context(2.5), created(slow_key), *(created(key) for key in quick_keys))
    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    slow = record("alice", "slow")
    assert slow["status"] == "pending" and slow[ingest_records.ATTEMPTS] == 0
    assert {record("alice", f"q{i}")["status"] for i in range(3)} == {"processed"}


def test_a_file_waiting_for_an_extraction_slot_past_the_deadline_is_retried(aws, monkeypatch):
    ticketed("incoming/alice/f1/a.txt", 8)
    put("incoming/alice/f1/a.txt", b"words\n")
    monkeypatch.setattr(isolated, "_SLOTS", isolated.Slots(1))
    isolated._SLOTS.acquire(alone=False, timeout=None)  # taken by a sibling that will not finish in time
    try:
        event, _ = run(short_context(1.5), created("incoming/alice/f1/a.txt"), s3_test_event_body())
    finally:
        isolated._SLOTS.release(alone=False)
    item = record("alice", "f1")
    assert item["status"] == "pending" and item[ingest_records.ATTEMPTS] == 0


def test_clients_are_shared_between_threads_and_table_resources_are_not(aws):
    made = []

    def make():
        made.append((clients.s3(), clients.table(), clients.table()))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(s3) for s3, _, _ in made}) == 1
    assert len({id(table) for _, table, _ in made}) == 4
    assert all(first is again for _, first, again in made)


def test_the_files_extracted_at_once_never_take_the_workers_reserve():
    for function_mb in (320, 512, 1024, 1769, 3008, 10240):
        os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(function_mb)
        try:
            for kind in (None, *registry.accepted_kinds()):
                together = isolated.slots(function_mb, kind) * isolated.file_limits(kind).memory_bytes
                assert together <= max(function_mb - 256, function_mb // 4) * limits.MiB
        finally:
            del os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    # Each kind's share is its own: small text files go six at a time where
    # the largest kind goes three, as every file did when all shares were one size.
    assert isolated.slots(1024, "text") == 6 and isolated.slots(1024, "parquet") == 3
    assert isolated.slots(320, "text") == isolated.slots(320, "parquet") == 1


def test_a_child_forked_while_another_thread_is_stuck_writing_a_log_line_still_finishes(monkeypatch):
    """The stuck thread holds its stream's lock; a child that inherited that
    lock and wrote to the same stream would wait forever."""
    read_end, write_end = os.pipe()
    stuck_stream = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", stuck_stream)
    handler = logging.StreamHandler(stuck_stream)
    log = logging.getLogger("tests.stuck")
    log.addHandler(handler)
    log.propagate = False
    # Nobody reads the pipe, so this write fills it and blocks holding the lock.
    writer = threading.Thread(target=lambda: stuck_stream.write("x" * 1_000_000), daemon=True)
    writer.start()
    time.sleep(0.2)

    def work():
        log.warning("a line from the child")
        print("and a print")
        return "finished"

    try:
        value, _ = isolation.run(work, isolation.Limits(cpu_seconds=5, memory_bytes=64 * limits.MiB), wall_seconds=5)
        assert value == "finished"
    finally:
        log.removeHandler(handler)
        while writer.is_alive():
            if select.select([read_end], [], [], 0.1)[0]:
                os.read(read_end, 1 << 20)
        os.close(read_end)
        with contextlib.suppress(OSError):
            stuck_stream.close()


def test_heavy_libraries_load_only_when_a_file_of_their_kind_arrives():
    import subprocess

    env = {**os.environ, "TABLE_NAME": "t", "BUCKET_NAME": "b", "CURSOR_SECRET_PARAMETER": "p"}
    script = ("import sys, workers.ingest.handler, workers.api.handler; "
              "print(sorted(m for m in ('PIL', 'pypdf', 'aws_lambda_powertools.event_handler.openapi.models') "
              "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
    assert registry.declared_kind("image/png") == "image" and registry.declared_kind("application/pdf") == "pdf"
    assert registry.declared_kind("text/csv") is None


class SlowS3For(SlowS3):
    """An S3 that answers ranged GETs of one key slowly, and the rest at once."""

    def __init__(self, key: str, delay_s: float) -> None:
        super().__init__(delay_s)
        self._key = key

    def get_object(self, **params):
        return super().get_object(**params) if params["Key"] == self._key else self._client.get_object(**params)


def run(context, *bodies):
    event = sqs_event(*bodies)
    return event, ingest.handler(event, context)


def short_context(seconds: float) -> LambdaContext:
    spec = FunctionSpec(name="f", handler=functions.ingest_worker().handler, timeout_s=seconds, memory_mb=1024,
                        region="us-east-1")
    return LambdaContext(spec, spec.lambda_environment(), "req-short", time.time() + seconds)


def test_a_file_waiting_to_run_alone_holds_new_files_back_until_it_has_run_or_given_up():
    slots = isolated.Slots(2)
    assert slots.acquire(alone=False, timeout=None)  # a batch-mate being extracted
    outcomes: list[bool] = []

    def wait_alone(timeout: float) -> threading.Thread:
        waiting = threading.Thread(target=lambda: outcomes.append(slots.acquire(alone=True, timeout=timeout)))
        waiting.start()
        time.sleep(0.1)
        return waiting

    waiting = wait_alone(5)
    # A slot is free, but taking it would keep the waiting file from ever running alone.
    assert not slots.acquire(alone=False, timeout=0.1)
    slots.release(alone=False)
    waiting.join()
    assert outcomes == [True] and not slots.acquire(alone=False, timeout=0)
    slots.release(alone=True)

    assert slots.acquire(alone=False, timeout=None)
    waiting = wait_alone(0.3)
    held_back_until_it_gave_up = slots.acquire(alone=False, timeout=2)
    waiting.join()
    assert outcomes == [True, False] and held_back_until_it_gave_up
