"""The extraction pool: workers forked once and reused, with every limit still
the file's own, and nothing of one file left for the next."""

import dataclasses
import faulthandler
import functools
import gc
import json
import os
import signal
import threading
import time

import pytest

from tests.workers.conftest import put, record
from tests.workers.s3_events import notification, s3_event, sqs_event
from tests.workers.test_ingest import png_bytes
from workers.extraction import isolated, isolation, pool, registry
from workers.extraction.limits import MiB
from workers.ingest import handler as ingest

LIMITS = isolation.Limits(cpu_seconds=1, memory_bytes=64 * MiB)
SECRET = "the-first-files-secret-"


# A forked worker's inherited pages turn private as the parent writes its own
# copies: a collection in a test process that has run a thousand tests does
# that to more than any sensible bound. Tests of reuse set none; the bound's
# own test sets one.
NO_PRIVATE_BOUND = 1 << 40


@pytest.fixture
def workers():
    made = pool.Pool(max_files=100, max_private_bytes=NO_PRIVATE_BOUND)
    yield made
    made.close()


def pid():
    return os.getpid()


def sleep_then_pid(seconds):
    time.sleep(seconds)
    return os.getpid()


def spin():
    while True:
        pass


def hog():
    return bytearray(512 * MiB)


def crash():
    # pytest's faulthandler, inherited by the forked child, would print this
    # deliberate crash into the run's output as if something had gone wrong.
    faulthandler.disable()
    os.kill(os.getpid(), signal.SIGSEGV)


def alive(process_id: int) -> bool:
    try:
        os.kill(process_id, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_worker_serves_many_files_and_is_replaced_after_its_last():
    workers = pool.Pool(max_files=3, max_private_bytes=NO_PRIVATE_BOUND)
    try:
        served_by = [workers.run(pid, LIMITS, wall_seconds=5)[0] for _ in range(7)]
    finally:
        workers.close()
    assert served_by[0] == served_by[1] == served_by[2] != served_by[3] == served_by[4] == served_by[5]
    assert served_by[6] not in served_by[:6]
    assert not alive(served_by[0])


@pytest.mark.parametrize(("work", "failure"), [(crash, isolation.Crashed), (spin, isolation.CpuLimitExceeded),
                                               (hog, isolation.MemoryLimitExceeded)])
def test_a_worker_a_file_breaks_is_replaced_and_the_next_file_is_served(workers, work, failure):
    before = workers.run(pid, LIMITS, wall_seconds=5)[0]
    with pytest.raises(failure):
        workers.run(work, LIMITS, wall_seconds=30)
    after = workers.run(pid, LIMITS, wall_seconds=5)[0]
    assert after != before and not alive(before)


def test_cpu_past_the_budget_is_stopped_at_the_whole_second_a_per_file_child_had(workers):
    with pytest.raises(isolation.CpuLimitExceeded) as over:
        workers.run(spin, isolation.Limits(cpu_seconds=0.3, memory_bytes=64 * MiB), wall_seconds=30)
    # The same figure as RLIMIT_CPU's, so a file ends the same in a pool worker.
    assert "more than 1 s of CPU time" in str(over.value)


def beside(workers, breaking, limits=LIMITS):
    """A file that breaks its worker, run beside one that sleeps a little:
    what each ended as, and which worker served the quiet one."""
    outcomes = {}

    def quiet():
        started = time.monotonic()
        outcomes["quiet"] = workers.run(functools.partial(sleep_then_pid, 1.0), LIMITS, wall_seconds=10)[0]
        outcomes["quiet seconds"] = time.monotonic() - started

    thread = threading.Thread(target=quiet)
    thread.start()
    time.sleep(0.2)
    try:
        workers.run(breaking, limits, wall_seconds=30)
    except isolation.IsolationFailure as failure:
        outcomes["breaking"] = failure.reason
    thread.join()
    return outcomes


def test_a_memory_breach_kills_only_that_files_worker(workers):
    outcomes = beside(workers, hog)
    assert outcomes["breaking"] == "memory"
    # The quiet file's worker lives on and serves the next file.
    assert alive(outcomes["quiet"]) and workers.run(pid, LIMITS, wall_seconds=5)[0] == outcomes["quiet"]


def test_a_time_breach_fails_only_that_file(workers):
    outcomes = beside(workers, spin, isolation.Limits(cpu_seconds=0.5, memory_bytes=64 * MiB))
    assert outcomes["breaking"] == "cpu"
    assert outcomes["quiet seconds"] < 5 and alive(outcomes["quiet"])


def test_a_worker_that_dies_mid_file_delays_no_other_file(workers):
    outcomes = beside(workers, crash)
    assert outcomes["breaking"] == "crashed" and outcomes["quiet seconds"] < 5


def claim_then_note_the_time():
    return pool.claim(64 * MiB), time.monotonic(), os.getpid()


def test_what_runs_meanwhile_comes_before_the_files_claim_and_can_call_the_file_off(workers):
    ended = []
    granted, claimed_at, served_by = workers.run(
        claim_then_note_the_time, LIMITS, wall_seconds=5,
        meanwhile=lambda: (time.sleep(0.3), ended.append(time.monotonic())))[0]
    assert granted and claimed_at >= ended[0]

    def count_fails():
        raise RuntimeError("DynamoDB said no")

    with pytest.raises(RuntimeError, match="said no"):
        workers.run(claim_then_note_the_time, LIMITS, wall_seconds=5, meanwhile=count_fails)
    # Called off, not broken: the same worker takes the next file.
    assert workers.run(pid, LIMITS, wall_seconds=5)[0] == served_by


def leave_a_secret():
    """A file's work that leaves its data where a careless worker keeps it:
    in a reference cycle, and in the frames of the exception it raises."""
    held = [SECRET + "in a cycle"]
    held.append(held)
    secret = SECRET + "in a frame"  # noqa: F841 - held by the traceback's frame
    raise ValueError("the first file fails")


def find_secrets():
    found = set()
    for obj in gc.get_objects():
        for referent in gc.get_referents(obj):
            # Not SECRET itself, which this module's globals hold.
            if isinstance(referent, str) and referent.startswith(SECRET) and referent != SECRET:
                found.add(referent)
    return os.getpid(), sorted(found)


def test_a_file_finds_nothing_of_the_file_before_it_in_the_same_worker(workers):
    with pytest.raises(ValueError):
        workers.run(leave_a_secret, LIMITS, wall_seconds=5)
    # Walking every object a test process a thousand tests deep holds takes
    # seconds of CPU, and a list of them all takes room.
    walk = dataclasses.replace(LIMITS, cpu_seconds=30, memory_bytes=1024 * MiB)
    served_by, found = workers.run(find_secrets, walk, wall_seconds=60)[0]
    assert found == []
    # The same worker: the secrets were let go, not left behind with a replaced one.
    assert workers.run(pid, LIMITS, wall_seconds=5)[0] == served_by


def open_a_file():
    # As a library that keeps a file open after the file it was opened for.
    open_a_file.kept = open("/proc/self/status")
    return os.getpid()


def keep_memory(megabytes):
    keep_memory.kept = bytearray(megabytes * MiB)
    return os.getpid()


@pytest.mark.parametrize("work", [open_a_file, functools.partial(keep_memory, 48)])
def test_a_worker_a_file_leaves_changed_is_replaced(work):
    workers = pool.Pool(max_files=100, max_private_bytes=40 * MiB)
    try:
        changed = workers.run(work, LIMITS, wall_seconds=5)[0]
        assert workers.run(pid, LIMITS, wall_seconds=5)[0] != changed
    finally:
        workers.close()


# --- Through the ingest worker ------------------------------------------------------


def allocating(monkeypatch, kind, megabytes):
    """`kind`'s extractor first maps `megabytes` (address space, untouched)."""
    honest = registry.kind(kind)

    def describe(source):
        held = bytes(megabytes * MiB)
        return {**honest.describe(source), "held": len(held)}

    monkeypatch.setitem(registry._KINDS, kind, dataclasses.replace(honest, describe=describe))


def handle(context, *files):
    """Store `files` (name, bytes, type), then handle them in one batch."""
    bodies = []
    for index, (name, body, content_type) in enumerate(files):
        key = f"incoming/alice/{name}/{name}"
        put(key, body, content_type)
        bodies.append(notification(s3_event(key, sequencer=f"{index + 1:02d}")))
    return ingest.handler(sqs_event(*bodies), context)


def test_a_files_memory_limit_is_its_kinds_share(aws, context, monkeypatch):
    # 190 MiB: within an image's share (192 + 32 MiB), past text's (96 + 32 MiB).
    allocating(monkeypatch, "image", 190)
    allocating(monkeypatch, "text", 190)
    handle(context, ("photo", png_bytes(), "image/png"), ("notes", b"just text\n", "text/plain"),
           # Declared as text, sniffed as an image: the image's share, once sniffing knows.
           ("disguised", png_bytes(), "text/plain"))
    assert record("alice", "photo")["status"] == "processed"
    assert record("alice", "disguised")["status"] == "processed"
    notes = record("alice", "notes")
    assert notes["status"] == "failed" and notes["error"]["code"] == "too_large"
    assert "memory" in notes["error"]["message"]


def test_a_worker_logs_each_file_under_its_own_id(aws, context, monkeypatch, capfd):
    for name in ("first", "second"):
        put(f"incoming/alice/{name}/{name}", f"{name}\n".encode(), "text/plain")
    monkeypatch.setattr(isolated, "_POOL", pool.Pool(max_files=100, max_private_bytes=NO_PRIVATE_BOUND))
    spawned = []
    spawn = pool.Pool._spawn
    monkeypatch.setattr(pool.Pool, "_spawn", lambda self: spawned.append(spawn(self)) or spawned[-1])
    try:
        for sequencer, name in (("01", "first"), ("02", "second")):
            key = f"incoming/alice/{name}/{name}"
            ingest.handler(sqs_event(notification(s3_event(key, sequencer=sequencer))), context)
    finally:
        isolated._POOL.close()
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    # One worker read both files, and its lines name each file as the parent's do.
    assert len(spawned) == 1
    read = [line for line in lines if line.get("message") == "Read the object"]
    assert [line["fileId"] for line in read] == [line["correlation_id"] for line in read] == ["first", "second"]
