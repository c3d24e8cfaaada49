"""Extraction workers forked once and reused: isolation paid per worker, not per file.

A worker is a forked process that serves one file at a time, reading tasks from
one pipe and answering on another (Lambda has no /dev/shm, so no
`multiprocessing` queues or semaphores). Every limit is still the file's own:

- memory: before each file the worker sets its `RLIMIT_AS` to what it holds
  then plus the file's allowance, and changes it only through the parent
  (`claim`, once the file's kind is known). A file that meets the limit
  ends its worker, whose heap may be left in any state;
- CPU: the parent reads the worker's CPU time (/proc) while it waits, and
  kills the worker past the file's budget (in whole seconds, as RLIMIT_CPU
  counted it for a per-file child);
- the caller's wall-clock limit: the parent kills the worker there.

A worker that dies or is killed costs its file alone; the next file gets a
fresh one. Like gunicorn's `max_requests` and Celery's `max_tasks_per_child`,
a worker also retires after `max_files` files, when its private memory (pages
no longer shared with the parent) grew past `max_private_bytes`, or when a file
left a file descriptor open. Between two files the worker frees what the first
left (its exception, cycles, malloc's free pages) and resets its log keys.

Workers are forked on demand from the ingest worker's threads, under
isolation's fork lock (no library import half done, each worker's pipes its
own) and with every client lock free (workers/storage/clients.py), and each
writes through standard streams of its own: the care `isolation.run` takes for
a child, taken once per worker.
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import resource
import select
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import NoReturn, TypeVar

from workers.extraction import isolation

T = TypeVar("T")

_HEADER = struct.Struct("!Q")
_READ_CHUNK = 64 * 1024
# How often the parent reads a busy worker's CPU time. It stops the worker at
# the same whole second RLIMIT_CPU stopped a per-file child at
# (`isolation.cpu_ceiling`), so a file's outcome does not depend on which ran it.
_WATCH_S = 0.05
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _grant_all(memory_bytes: int) -> bool:
    return True


class Pool:
    """Workers for files extracted side by side: as many as have run at once."""

    def __init__(self, max_files: int, max_private_bytes: int) -> None:
        self.max_files = max_files
        self.max_private_bytes = max_private_bytes
        self._idle: list[_Worker] = []
        # The parent's ends of every live worker's pipes: a worker forked later closes them.
        self._ends: set[int] = set()
        self._generation = 0
        self._lock = threading.Lock()

    def run(self, work: Callable[[], T], limits: isolation.Limits, wall_seconds: float,
            grant: Callable[[int], bool] = _grant_all,
            meanwhile: Callable[[], None] | None = None) -> tuple[T, isolation.Usage]:
        """As `isolation.run`, in a worker: `work` (picklable) runs there and
        its result comes back with what it used. `grant(bytes)` answers the
        file's `claim`s. `meanwhile` runs here once the worker has the file;
        its claims wait for it, and are refused if it raises, which is then
        raised here whatever the work did."""
        deadline = time.monotonic() + wall_seconds
        worker = self._dispatch(pickle.dumps((work, limits)))
        called_off = None
        try:
            if meanwhile is not None:
                try:
                    meanwhile()
                except Exception as exc:
                    called_off = exc
            while True:
                message = worker.receive(deadline, limits)
                if message[0] != "need":
                    break
                worker.send(pickle.dumps(called_off is None and grant(message[1])))
        except BaseException:
            self._end(worker)
            raise
        kind, value, usage, retiring = message
        if retiring:
            self._end(worker)
        else:
            self._rest(worker)
        if called_off is not None:
            raise called_off
        return isolation.outcome(kind, value, usage, limits)

    def renew(self) -> None:
        """Retire every worker once its file is done: the parent has loaded
        something (a kind's library) that workers forked from now on inherit."""
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
        for worker in idle:
            self._end(worker)

    def close(self) -> None:
        self.renew()

    def _dispatch(self, task: bytes) -> _Worker:
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            worker = worker or self._spawn()
            try:
                worker.start(task)
                return worker
            except OSError:
                # It died idle (killed from outside): not this file's doing.
                self._end(worker)

    def _rest(self, worker: _Worker) -> None:
        with self._lock:
            if worker.generation == self._generation:
                self._idle.append(worker)
                return
        self._end(worker)

    def _end(self, worker: _Worker) -> None:
        with self._lock:
            self._ends -= {worker.tasks, worker.results}
        worker.end()

    def _spawn(self) -> _Worker:
        # Under the fork lock: no library import half done, and no other fork
        # while this worker's pipe ends are open in the parent. Under the
        # pool's lock: the other workers' ends, which this one closes, stay
        # theirs until it has forked.
        with isolation.no_fork(), self._lock:
            tasks_read, tasks_write = os.pipe()
            results_read, results_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the worker, reported through its pipe
                _serve(tasks_read, results_write, {tasks_write, results_read, *self._ends},
                       self.max_files, self.max_private_bytes)
            os.close(tasks_read)
            os.close(results_write)
            self._ends |= {tasks_write, results_read}
            return _Worker(pid, tasks_write, results_read, self._generation)


class _Worker:
    """The parent's side of one worker."""

    def __init__(self, pid: int, tasks: int, results: int, generation: int) -> None:
        self.pid, self.tasks, self.results, self.generation = pid, tasks, results, generation
        self._buffer = bytearray()
        self._cpu_at_start = 0.0

    def start(self, task: bytes) -> None:
        """Hand the worker a file: its CPU time counts from here."""
        self._cpu_at_start = self.cpu_seconds()
        self.send(task)

    def send(self, data: bytes) -> None:
        _write(self.tasks, data)

    def receive(self, deadline: float, limits: isolation.Limits) -> tuple:
        """The worker's next message. Raises `Stopped` at `deadline`,
        `CpuLimitExceeded` past the file's CPU budget, and what its death
        means when it dies first; the caller ends it in every case."""
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                if len(self._buffer) >= _HEADER.size + size:
                    data = bytes(self._buffer[_HEADER.size:_HEADER.size + size])
                    del self._buffer[:_HEADER.size + size]
                    return pickle.loads(data)
            left = deadline - time.monotonic()
            if left <= 0:
                raise isolation.Stopped()
            if select.select([self.results], [], [], min(left, _WATCH_S))[0]:
                chunk = os.read(self.results, _READ_CHUNK)
                if not chunk:
                    raise self._death(limits)
                self._buffer += chunk
            elif self.cpu_seconds() - self._cpu_at_start > isolation.cpu_ceiling(limits):
                raise isolation.CpuLimitExceeded(limits)

    def cpu_seconds(self) -> float:
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            return 0.0
        # utime and stime, fields 14 and 15 of proc(5), in clock ticks.
        return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S

    def _death(self, limits: isolation.Limits) -> isolation.IsolationFailure:
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return isolation.death(status, limits)

    def end(self) -> None:
        for end in (self.tasks, self.results):
            try:
                os.close(end)
            except OSError:
                pass
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = 0


def _write(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------- in the worker

class _Task:
    """The file being served: what its memory limit counts from, and what it
    may use."""

    tasks = -1
    results = -1
    base_bytes = 0
    allowed_bytes = 0


def claim(memory_bytes: int) -> bool:
    """From the work a worker runs, before the part that may break it: ask
    the parent to go on with `memory_bytes` as the file's memory limit (it
    may wait for memory to come free, take back what the file no longer
    needs, or call the file off), and set it. False when the parent refused
    (the file should then stop). Outside a worker there is no one to ask and
    no limit to set: True."""
    if _Task.tasks < 0:
        return True
    _write(_Task.results, pickle.dumps(("need", memory_bytes)))
    if not _read_message(_Task.tasks):
        return False
    _Task.allowed_bytes = memory_bytes
    _set_ceiling(_Task.base_bytes + memory_bytes)
    return True


def _serve(tasks: int, results: int, others: set[int], max_files: int,
           max_private_bytes: int) -> NoReturn:  # pragma: no cover
    # A collection would walk, and so copy, every page inherited from the parent;
    # the worker collects between files instead.
    gc.disable()
    code = 0
    try:
        isolation.own_streams()
        # The parent's ends of its pipes and of every other worker's: a worker
        # sees the end of its tasks when the parent goes, and no other's.
        for end in others:
            os.close(end)
        _Task.tasks, _Task.results = tasks, results
        served = 0
        retire = False
        while not retire and (served := served + 1) <= max_files:
            served_one = _serve_one(tasks, last=served == max_files, max_private_bytes=max_private_bytes)
            if served_one is None:
                break
            answer, retire = served_one
            _write(results, answer)
            del answer, served_one
            _forget()
    except BaseException:
        try:
            os.write(2, f"extraction worker failed outside its work:\n{traceback.format_exc()}".encode())
        except BaseException:
            pass
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve_one(tasks: int, last: bool, max_private_bytes: int) -> tuple[bytes, bool] | None:  # pragma: no cover
    """The answer to the next file: what its work gave, what it used, and
    whether the worker retires now. None when the parent is gone. Everything
    of the file is local here, so none of it outlives the call but in cycles,
    which `_forget` collects."""
    task = _read_message(tasks, eof=None)
    if task is None:
        return None
    work, limits = task
    open_files = _open_files()
    isolation.allocate_afresh()
    start_rss = isolation.status_field("VmRSS")
    start_cpu = _cpu_seconds()
    _Task.base_bytes = isolation.status_field("VmSize")
    _Task.allowed_bytes = limits.memory_bytes
    _set_ceiling(_Task.base_bytes + limits.memory_bytes)
    try:
        try:
            answer = ("returned", work())
        except BaseException as exc:
            answer = ("raised", isolation.portable(exc))
        usage = isolation.Usage(peak_memory_bytes=max(0, isolation.status_field("VmHWM") - start_rss),
                                cpu_seconds=_cpu_seconds() - start_cpu)
    finally:
        _set_ceiling(resource.RLIM_INFINITY)
    met_memory_limit = answer[0] == "raised" and _caused_by_memory(answer[1])
    leaked = bool(_open_files() - open_files)
    retire = last or met_memory_limit or leaked or _private_bytes() > max_private_bytes
    return isolation.dumps((*answer, usage, retire)), retire


def _read_message(fd: int, eof: object = False) -> object:
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        if eof is False:
            raise EOFError("the parent closed the worker's pipe")
        return eof
    (size,) = _HEADER.unpack(header)
    return pickle.loads(_read_exactly(fd, size) or b"")


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, _READ_CHUNK))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _set_ceiling(ceiling: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and (ceiling == resource.RLIM_INFINITY or ceiling > hard):
        ceiling = hard
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))


def _caused_by_memory(exc: BaseException | None) -> bool:
    """Whether `exc`, or what it was raised from, is a MemoryError: the limit
    was met somewhere, whatever the parser made of it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (MemoryError, isolation.MemoryLimitExceeded)):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _forget() -> None:  # pragma: no cover
    """What the last file left: the exception being handled (and the frames,
    with the file's data, its traceback holds), cycles, free heap pages."""
    sys.last_type = sys.last_value = sys.last_traceback = None
    # The file's objects are all younger than the last collection (the
    # collector is off while a file is served): the young generations hold
    # them, and walking the inherited heap would cost more than the file did.
    gc.collect(1)
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _open_files() -> set[int]:
    """Open descriptors but sockets: the reader's connections are kept from
    one file to the next (HTTP responses are read whole or the connection is
    dropped, so no file's bytes wait on one for the next file)."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            # The listing's own descriptor is closed by now, and fails here.
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                found.add(int(name))
        except OSError:
            continue
    return found


def _private_bytes() -> int:
    """Pages of this worker's own (written since the fork, or never shared),
    which the function's memory pays for once per worker."""
    total = 0
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total

