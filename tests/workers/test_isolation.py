import faulthandler
import logging
import os
import signal
import threading
import time

import pytest

from workers.errors import FileRejected
from workers.extraction import isolation

LIMITS = isolation.Limits(cpu_seconds=1, memory_bytes=64 * 1024 * 1024)


def spin():
    while True:
        pass


def hog():
    return bytearray(512 * 1024 * 1024)


def crash():
    # pytest's faulthandler, inherited by the forked child, would print this
    # deliberate crash into the run's output as if something had gone wrong.
    faulthandler.disable()
    os.kill(os.getpid(), signal.SIGSEGV)


def reject():
    raise FileRejected("corrupt", "Not a readable file")


def test_a_result_comes_back_from_the_child_with_what_it_used():
    value, usage = isolation.run(lambda: {"rows": 3, "blob": b"x" * 8_000_000}, LIMITS, wall_seconds=10)
    assert value == {"rows": 3, "blob": b"x" * 8_000_000}
    assert usage.peak_memory_bytes > 4_000_000 and usage.cpu_seconds > 0


def test_an_exception_the_child_raises_is_raised_as_itself():
    with pytest.raises(FileRejected) as rejected:
        isolation.run(reject, LIMITS, wall_seconds=10)
    assert rejected.value.code == "corrupt"
    assert rejected.value.usage.cpu_seconds >= 0


def test_work_spinning_past_its_cpu_time_is_stopped_by_the_kernel():
    started = time.monotonic()
    with pytest.raises(isolation.CpuLimitExceeded):
        isolation.run(spin, LIMITS, wall_seconds=30)
    assert time.monotonic() - started < 10


def test_work_allocating_past_its_memory_is_refused():
    with pytest.raises(isolation.MemoryLimitExceeded) as over:
        isolation.run(hog, LIMITS, wall_seconds=10)
    assert "64 MiB" in over.value.detail


def test_a_crash_in_the_child_leaves_the_caller_standing():
    with pytest.raises(isolation.Crashed) as crashed:
        isolation.run(crash, LIMITS, wall_seconds=10)
    assert "SIGSEGV" in crashed.value.detail


def test_waiting_past_the_wall_clock_is_stopped_and_not_blamed_on_the_file():
    with pytest.raises(isolation.Stopped):
        isolation.run(lambda: time.sleep(30), LIMITS, wall_seconds=0.3)


def test_the_child_does_not_outlive_a_stop(tmp_path):
    pid_file = tmp_path / "pid"

    def note_pid_and_sleep():
        pid_file.write_text(str(os.getpid()))
        time.sleep(30)

    with pytest.raises(isolation.Stopped):
        isolation.run(note_pid_and_sleep, LIMITS, wall_seconds=0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


class _LockedStream:
    """A stream whose writer holds a lock, as a buffered stream does mid-write."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lines = []

    def write(self, text):
        with self.lock:
            self.lines.append(text)

    def flush(self):
        with self.lock:
            pass


def test_a_log_line_in_the_child_never_waits_on_a_stream_another_thread_was_writing_at_the_fork():
    # The handler's stream is neither sys.stdout nor sys.stderr (a logger made
    # while they were other streams, as under a test runner's capture), and
    # another thread holds its lock when the child is forked: the child's copy
    # of that lock is held for good.
    stream = _LockedStream()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.isolation.locked-stream")
    logger.addHandler(handler)
    # And one whose stream is a property, as logging.lastResort's is.
    logger.addHandler(logging.lastResort)
    logger.propagate = False
    stream.lock.acquire()
    try:
        def log_and_return():
            logger.warning("from the child")
            return "done"

        value, _ = isolation.run(log_and_return, LIMITS, wall_seconds=5)
    finally:
        stream.lock.release()
        logger.removeHandler(handler)
        logger.removeHandler(logging.lastResort)
    assert value == "done"
