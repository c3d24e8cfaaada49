"""Running one file's extraction where it cannot hurt the rest of the batch.

The work runs in a forked child process with hard limits the kernel enforces:
address space (`RLIMIT_AS`) and CPU time (`RLIMIT_CPU`). A parser that
allocates past its share gets a MemoryError or dies; one that spins in C code,
where no cooperative deadline is checked, is stopped by SIGXCPU. Time spent
waiting on S3 is not CPU time, so a slow S3 never counts against the file.
The parent also stops the child at the invocation's own limit, which is the
batch's problem rather than the file's.

Lambda has no /dev/shm, so `multiprocessing` pools and queues are out; a plain
`os.fork` and an `os.pipe` are all this needs, and both work there. The child
must not share the parent's HTTP connections, so whatever it needs it builds
itself (see `clients.reset`).

The worker forks from several threads at once, and a child inherits every lock
as it was at the fork, held by threads it does not have. So the child needs
none that another thread may hold: it writes through standard streams of its
own (another thread may have been halfway through a log line), and nothing is
forked while the parent imports a library children will use (`no_fork`).
Python serialises forks on its import lock anyway, so `run` loses nothing by
forking under a lock of its own, which also keeps each child's pipe its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import math
import os
import pickle
import resource
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_MiB = 1024 * 1024
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """What one file may use: seconds of CPU, and bytes of memory on top of
    what the process already held when the child was forked."""

    cpu_seconds: float
    memory_bytes: int


@dataclass(frozen=True)
class Usage:
    """What the child used: its resident memory at the peak above what it
    started with, and its CPU time."""

    peak_memory_bytes: int
    cpu_seconds: float


# mallopt's parameter for the size from which malloc maps blocks of their own.
_M_MMAP_THRESHOLD = -3
_FORKING = threading.Lock()


class IsolationFailure(Exception):
    """The child did not return: `reason` says which limit or signal ended it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class CpuLimitExceeded(IsolationFailure):
    def __init__(self, limits: Limits) -> None:
        super().__init__("cpu", f"it used more than {cpu_ceiling(limits)} s of CPU time")


class MemoryLimitExceeded(IsolationFailure):
    def __init__(self, limits: Limits) -> None:
        super().__init__("memory", f"it needed more than {limits.memory_bytes // _MiB} MiB of memory")


class Crashed(IsolationFailure):
    def __init__(self, detail: str) -> None:
        super().__init__("crashed", detail)


class Stopped(IsolationFailure):
    """Stopped at the caller's wall-clock limit: not the file's fault."""

    def __init__(self) -> None:
        super().__init__("stopped", "stopped at the invocation's time limit")


class ChildError(Exception):
    """An exception the child raised that could not cross the pipe as itself."""


@contextlib.contextmanager
def no_fork():
    """No child is forked while the caller holds this: for work whose half-done
    state a child must not inherit, such as importing a module it will use."""
    with _FORKING:
        yield


def run(work: Callable[[], T], limits: Limits, wall_seconds: float) -> tuple[T, Usage]:
    """Run `work()` in a child; return its result and what it used. Exceptions
    the child raises are raised here, with the child's `Usage` as their
    `usage` attribute. Raises an `IsolationFailure` when a limit or a signal
    ended the child first."""
    with _FORKING:
        # The pipe is made and its write end closed here under the lock, so
        # no other thread's child inherits the write end: the parent knows
        # this child is done when the pipe ends, and a sibling still running
        # would keep it open.
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
            os.close(read_end)
            _child(work, limits, write_end)
        os.close(write_end)
    try:
        payload, finished = _collect(read_end, time.monotonic() + wall_seconds)
    finally:
        os.close(read_end)
    if not finished:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not finished:
        raise Stopped()
    if payload:
        return outcome(*pickle.loads(payload), limits)
    raise death(status, limits)


def outcome(kind: str, value, usage: Usage, limits: Limits) -> tuple:
    """What the child's answer means here: its value and usage, or the
    exception it raised, raised again with its `usage`."""
    if kind == "raised":
        if isinstance(value, MemoryError):
            value = MemoryLimitExceeded(limits)
        try:
            value.usage = usage
        except AttributeError:
            pass
        raise value
    return value, usage


def death(status: int, limits: Limits) -> IsolationFailure:
    """What a child's end without an answer (its wait status) means."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU:
            return CpuLimitExceeded(limits)
        if number == signal.SIGKILL:
            # What a kernel or cgroup out-of-memory kill looks like from here.
            return MemoryLimitExceeded(limits)
        return Crashed(f"it stopped the process with signal {signal.Signals(number).name}")
    return Crashed(f"it stopped the process with exit status {os.WEXITSTATUS(status)}")


def _collect(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything the child writes, read as it comes so a big result cannot
    fill the pipe and block it; False when the deadline came first."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", False
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, _READ_CHUNK)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)


def _child(work: Callable[[], object], limits: Limits, fd: int) -> None:  # pragma: no cover
    # A collection would walk, and so copy, every page inherited from the parent.
    gc.disable()
    code = 0
    try:
        own_streams()
        allocate_afresh()
        start_rss = status_field("VmRSS")
        _limit(limits)
        try:
            message = ("returned", work())
        except BaseException as exc:  # everything must cross back, or the parent sees a crash
            message = ("raised", portable(exc))
        used = resource.getrusage(resource.RUSAGE_SELF)
        usage = Usage(peak_memory_bytes=max(0, status_field("VmHWM") - start_rss),
                      cpu_seconds=used.ru_utime + used.ru_stime)
        data = dumps((*message, usage))
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        # Not through logging or sys.stderr: whatever failed may be either.
        with contextlib.suppress(BaseException):
            os.write(2, f"extraction child failed outside its work:\n{traceback.format_exc()}".encode())
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # Never return into the parent's code, run its atexit hooks or flush its buffers.
        os._exit(code)


def own_streams() -> None:  # pragma: no cover
    """Standard streams of the child's own, for `sys` and every logging handler:
    another thread may have been writing to a handler's stream when the parent
    forked, and that stream's lock stays held in the child. A handler made while
    `sys.stdout` was some other stream (a test runner's capture) is no safer, so
    every handler writes to the child's own streams: stderr's to stderr, all
    others to stdout, where Lambda's runtime collects logs. What the inherited
    streams still buffer is the parent's to write, never the child's."""
    inherited = {id(sys.stdout): "stdout", id(sys.stderr): "stderr"}
    own = {name: open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
           for name, fd in (("stdout", 1), ("stderr", 2))}
    sys.stdout, sys.stderr = own["stdout"], own["stderr"]
    for handler in _stream_handlers():
        # A handler without a stream of its own (logging.lastResort's class
        # looks sys.stderr up on each line) already writes to the child's.
        if "stream" in vars(handler):
            # Not setStream: it flushes the inherited stream first.
            handler.stream = own[inherited.get(id(handler.stream), "stdout")]


def _stream_handlers() -> list[logging.StreamHandler]:
    loggers = [logging.getLogger(), *(found for found in logging.Logger.manager.loggerDict.values()
                                      if isinstance(found, logging.Logger))]
    return [handler for found in loggers for handler in found.handlers if isinstance(handler, logging.StreamHandler)]


def _limit(limits: Limits) -> None:  # pragma: no cover
    seconds = cpu_ceiling(limits)
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    ceiling = _address_space_bytes() + limits.memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))


def cpu_ceiling(limits: Limits) -> int:
    """The CPU a child may use: its budget in whole seconds, as RLIMIT_CPU
    counts it (so a child that never reaches a cooperative check may run up
    to a second past its budget)."""
    return max(1, math.ceil(limits.cpu_seconds))


def portable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return ChildError("".join(traceback.format_exception_only(type(exc), exc)).strip())


def dumps(message: tuple) -> bytes:
    try:
        return pickle.dumps(message)
    except Exception:
        _, value, *rest = message
        return pickle.dumps(("raised", ChildError(f"the result could not be returned: {value!r:.200}"), *rest))


def status_field(name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{name} is not in /proc/self/status")


def allocate_afresh() -> None:
    """Large blocks get pages of their own rather than heap the parent freed
    (glibc raises its mmap threshold as a process frees big blocks), and what
    the parent's arenas hold free is given back first (a thread's arena can
    serve a large block from it without mapping anything), so the child's RSS
    grows with what it allocates. The peak is then counted from here."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        # "5" resets the peak resident set size to the current one (proc(5)).
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass


def _address_space_bytes() -> int:
    return status_field("VmSize")
