"""Extraction with a blast radius of one file.

`extract` runs the extractors in a worker of the environment's pool
(workers/extraction/pool.py) and turns each way the work can end into what it
means for the file:

- over its CPU time or memory: the file is `too_large`, permanently;
- killed by a signal of its own (a crash in C code): `processing_crashed`;
- stopped at the invocation's time limit: `OutOfTime`, retried later, because
  that limit belongs to the batch.

What the worker cannot report is the parent dying with it (Lambda's own memory
kill or timeout). workers/ingest counts extraction starts on the record for
that (`on_start`), and quarantines a file after
`IngestSettings.quarantine_after_starts` starts that never finished.

Files of one batch are extracted side by side, as many at once as the memory
left to extraction holds their kinds' shares (`share_mb`: the memory the kind
declares, and room for what a worker maps besides): together they can never
take the worker's reserve, however hostile every file is. A file takes the
share of the kind its Content-Type claims (the smallest when it claims none),
and once sniffing finds its real kind, that kind's (`_Lease.resize`). A file
one start short of quarantine takes all of it, so that if the worker dies
again, no batch-mate can have been the cause.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable

from aws_lambda_powertools import Logger

from contract.metrics import INGEST_SERVICE
from contract.table import QUARANTINE_CODE
from workers.errors import FileRejected, OutOfTime
from workers.extraction import isolation, pool, registry, typecheck
from workers.extraction import limits as budgets
from workers.extraction.pipeline import Extraction, StoredObject
from workers.extraction.pipeline import extract as extract_here
from workers.storage import clients

logger = Logger(service=INGEST_SERVICE, child=True)


# The worker reports OutOfTime itself when the invocation's limit passes during
# a read; it is only stopped from outside if it does not, a moment later, which
# must still come before Lambda's own timeout (the record reserve is at least
# a quarter of a second).
_STOP_GRACE_S = 0.1
# What a worker maps beside what the kind's parser holds (a library a
# disguised file imports, malloc's and Python's arenas): a kind's share is its
# declared memory plus this, so the largest kind's (224 MiB) is the 256 MiB
# every file had when each had a child of its own.
KIND_ROOM_MB = 32
# Like gunicorn's max_requests: a worker serves this many files, then a fresh
# fork replaces it, whatever a library may have kept from them.
FILES_PER_WORKER = 100
# A worker whose own pages (copied from the parent as it touched them, or
# kept by a library) grow past the room its files' shares leave for them is
# replaced after its file.
WORKER_PRIVATE_MB = KIND_ROOM_MB


def share_mb(kind: str | None, function_mb: int | None = None) -> int:
    """The memory one file of `kind` may use, in MiB (the default budget's for
    a kind not known yet), and never more than extraction has in all."""
    budget = registry.kind(kind).budget if kind is not None else budgets.DEFAULT_BUDGET
    return min(budget.memory_bytes // budgets.MiB + KIND_ROOM_MB, capacity_mb(function_mb))


def _smallest_share() -> int:
    """What a file whose Content-Type names no kind takes until sniffing
    finds one: the least any kind needs, so that a batch of small text files
    is not held back by what a PDF might need; sniffing itself needs little."""
    return min(share_mb(kind) for kind in registry.accepted_kinds())


def capacity_mb(function_mb: int | None = None) -> int:
    """What the function's memory leaves to the files extracted at once."""
    return budgets.function(function_mb).extraction_memory_mb


def slots(function_mb: int | None = None, kind: str | None = None) -> int:
    """How many files of `kind` are extracted at once."""
    return capacity_mb(function_mb) // share_mb(kind, function_mb)


def file_limits(kind: str | None = None) -> isolation.Limits:
    """One file's limits: its CPU budget, and its kind's share of memory.
    The worker's parent reads its CPU time every 50 ms and kills it past the
    budget in whole seconds (`isolation.cpu_ceiling`)."""
    return isolation.Limits(cpu_seconds=budgets.EXTRACT_CPU_SECONDS, memory_bytes=share_mb(kind) * budgets.MiB)


class Slots:
    """The memory left to extraction in one environment, in units (MiB). A
    file takes its kind's share, or all of it when it must be the only
    extraction running: if the worker dies then, nothing but that file can be
    the cause. A file waiting to run alone holds back files that would take a
    share, so that a busy batch cannot starve it."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._taken = 0
        self._waiting_alone = 0
        self._changed = threading.Condition()

    def acquire(self, alone: bool, timeout: float | None, units: int = 1) -> bool:
        wanted = self.count if alone else units
        waiting_alone = 1 if alone else 0
        with self._changed:
            self._waiting_alone += waiting_alone
            try:
                free = self._changed.wait_for(
                    lambda: self._taken + wanted <= self.count and (alone or not self._waiting_alone), timeout)
            finally:
                self._waiting_alone -= waiting_alone
                # Files held back for this one may go now, whether it got its slots or gave up.
                self._changed.notify_all()
            if free:
                self._taken += wanted
            return free

    def release(self, alone: bool, units: int = 1) -> None:
        with self._changed:
            self._taken -= self.count if alone else units
            self._changed.notify_all()


class _Lease:
    """What one file holds of the slots while it is extracted: its share, or
    all of them when a share is bigger than the whole."""

    def __init__(self, slots: Slots, alone: bool, units: int) -> None:
        self.slots, self.alone, self.units = slots, alone, min(units, slots.count)

    def take(self, timeout: float) -> bool:
        if self.slots.acquire(self.alone, timeout, self.units):
            return True
        self.units = 0
        return False

    def resize(self, units: int, timeout: float) -> bool:
        """Hold `units` rather than what it holds. Growing gives back first,
        so that two growing files never wait for each other."""
        units = min(units, self.slots.count)
        if self.alone or units == self.units:
            return True
        if units < self.units:
            self.slots.release(False, self.units - units)
            self.units = units
            return True
        self.slots.release(False, self.units)
        self.units = units
        return self.take(timeout)

    def release(self) -> None:
        if self.units:
            self.slots.release(self.alone, self.units)
            self.units = 0


_SLOTS = Slots(capacity_mb())
_POOL = pool.Pool(max_files=FILES_PER_WORKER, max_private_bytes=WORKER_PRIVATE_MB * budgets.MiB)


def extract(obj: StoredObject, not_after: float, on_start: Callable[[], None],
            alone: bool = False) -> Extraction:
    """Extract `obj` in a worker once its share is free (every slot when
    `alone`); `on_start` runs once the worker has the file, before the file's
    kind is parsed, and may raise to call the extraction off."""
    declared = registry.declared_kind(typecheck.normalise(obj.content_type))
    _load(declared)
    first_share = share_mb(declared) if declared else _smallest_share()
    lease = _Lease(_SLOTS, alone, first_share)
    if not lease.take(timeout=_left(not_after)):
        raise OutOfTime("No extraction slot came free before the invocation's time limit; it will be retried")
    try:
        return _extract_in_worker(obj, not_after, dataclasses.replace(
            file_limits(declared), memory_bytes=first_share * budgets.MiB), lease, on_start)
    finally:
        lease.release()


def _load(kind: str | None) -> None:
    """Import the library of the kind the file claims to be, here, so that
    the workers forked from now on inherit it instead of each importing it
    again; the workers forked before it retire. A false claim costs an import;
    the worker still loads what the real kind needs."""
    if registry.unloaded(kind):
        with isolation.no_fork():
            registry.load(kind)
        _POOL.renew()


def _left(not_after: float) -> float:
    return max(0.0, not_after - time.monotonic())


def _extract_in_worker(obj: StoredObject, not_after: float, limits: isolation.Limits, lease: _Lease,
                       on_start: Callable[[], None]) -> Extraction:
    wall_s = not_after - time.monotonic() + _STOP_GRACE_S
    work = functools.partial(_extract, obj, not_after, _log_keys())

    def grant(memory_bytes: int) -> bool:
        return lease.resize(-(-memory_bytes // budgets.MiB), timeout=_left(not_after))

    try:
        # The start is counted while the worker reads and sniffs the file's
        # first bytes (our own code over a few KiB, which cannot take the
        # worker down); its kind's parser waits for the count (`_claim_share`).
        extraction, usage = _POOL.run(work, limits, wall_s, grant, meanwhile=on_start)
    except isolation.Stopped as stopped:
        raise OutOfTime(f"The file's processing was {stopped.detail}; it will be retried") from stopped
    except (isolation.CpuLimitExceeded, isolation.MemoryLimitExceeded) as over:
        _log_usage(getattr(over, "usage", None), limits)
        raise FileRejected("too_large", f"Processing stopped: {over.detail}") from over
    except isolation.Crashed as crashed:
        raise FileRejected(QUARANTINE_CODE, f"Processing crashed: {crashed.detail}") from crashed
    except Exception as raised:
        _log_usage(getattr(raised, "usage", None), limits)
        raise
    _log_usage(usage, limits)
    return extraction


def _extract(obj: StoredObject, not_after: float, log_keys: tuple[dict, dict]) -> Extraction:
    """In the worker: the file's log keys, its reader, and its kind's share of memory."""
    _take_log_keys(*log_keys)
    return extract_here(obj, not_after, clients.ranged_reader(not_after), on_kind=_claim_share)


def _claim_share(kind: registry.Kind) -> None:
    if not pool.claim(share_mb(kind.name) * budgets.MiB):
        raise OutOfTime(f"The {kind.name} file's extraction was called off, or no memory for it came free "
                        "before the invocation's time limit; it will be retried")


def _log_keys() -> tuple[dict, dict]:
    return logger.get_current_keys(), logger.thread_safe_get_current_keys()


def _take_log_keys(shared: dict, own: dict) -> None:
    """The file's log keys, and none of the last file's: a worker serves many."""
    logger.clear_state()
    logger.append_keys(**shared)
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**own)


def _log_usage(usage: isolation.Usage | None, limits: isolation.Limits) -> None:
    if usage is not None:
        logger.info("Extraction used", extra={
            "cpuSeconds": round(usage.cpu_seconds, 3), "peakMemoryBytes": usage.peak_memory_bytes,
            "memoryLimitBytes": limits.memory_bytes})
