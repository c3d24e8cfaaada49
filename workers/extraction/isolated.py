"""Extraction with a blast radius of one file.

`extract` runs the extractors in a child process (workers/extraction/isolation.py) and
turns each way the child can end into what it means for the file:

- over its CPU time or memory: the file is `too_large`, permanently;
- killed by a signal of its own (a crash in C code): `processing_crashed`;
- stopped at the invocation's time limit: `OutOfTime`, retried later, because
  that limit belongs to the batch.

What the child cannot report is the parent dying with it (Lambda's own memory
kill or timeout). workers/ingest counts extraction starts on the record for
that (`on_start`), and quarantines a file after
`IngestSettings.quarantine_after_starts` starts that never finished.

Files of one batch are extracted side by side, as many at once as the
function's memory holds children with a file's share each (`slots`): together
they can never take the worker's reserve, however hostile every file is. A
file one start short of quarantine takes every slot, so that if the worker
dies again, no batch-mate can have been the cause.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from aws_lambda_powertools import Logger

from contract.metrics import INGEST_SERVICE
from contract.table import QUARANTINE_CODE
from workers.errors import FileRejected, OutOfTime
from workers.extraction import isolation, registry, typecheck
from workers.extraction import limits as budgets
from workers.extraction.pipeline import Extraction, StoredObject
from workers.extraction.pipeline import extract as extract_here
from workers.storage import clients

logger = Logger(service=INGEST_SERVICE, child=True)


# The child reports OutOfTime itself when the invocation's limit passes during a
# read; it is only stopped from outside if it does not, a moment later, which
# must still come before Lambda's own timeout (the record reserve is at least
# a quarter of a second).
_STOP_GRACE_S = 0.1


def slots(function_mb: int | None = None) -> int:
    """How many files are extracted at once."""
    return budgets.function(function_mb).extraction_slots


def file_limits() -> isolation.Limits:
    """One file's share of the function: its CPU budget, and what the memory
    left to children gives each of the files extracted at once. RLIMIT_CPU
    counts whole seconds, so a child that never reaches a cooperative check
    may run up to a second past its budget."""
    function = budgets.function()
    return isolation.Limits(
        cpu_seconds=budgets.EXTRACT_CPU_SECONDS,
        memory_bytes=function.extraction_memory_mb // function.extraction_slots * budgets.MiB,
    )


class Slots:
    """The extraction slots of one environment. A file may also take all of
    them, to be the only extraction running: if the worker dies then, nothing
    but that file can be the cause. A file waiting to run alone holds back
    files that would take one slot, so that a busy batch cannot starve it."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._taken = 0
        self._waiting_alone = 0
        self._changed = threading.Condition()

    def acquire(self, alone: bool, timeout: float | None) -> bool:
        wanted = self._count if alone else 1
        waiting_alone = 1 if alone else 0
        with self._changed:
            self._waiting_alone += waiting_alone
            try:
                free = self._changed.wait_for(
                    lambda: self._taken + wanted <= self._count and (alone or not self._waiting_alone), timeout)
            finally:
                self._waiting_alone -= waiting_alone
                # Files held back for this one may go now, whether it got its slots or gave up.
                self._changed.notify_all()
            if free:
                self._taken += wanted
            return free

    def release(self, alone: bool) -> None:
        with self._changed:
            self._taken -= self._count if alone else 1
            self._changed.notify_all()


_SLOTS = Slots(slots())


def extract(obj: StoredObject, not_after: float, on_start: Callable[[], None],
            alone: bool = False) -> Extraction:
    """Extract `obj` in a child once a slot is free (every slot when `alone`);
    `on_start` runs just before the child is forked, and may raise to call the
    extraction off."""
    _load_declared_kind(obj.content_type)
    if not _SLOTS.acquire(alone, timeout=max(0.0, not_after - time.monotonic())):
        raise OutOfTime("No extraction slot came free before the invocation's time limit; it will be retried")
    try:
        on_start()
        return _extract_in_child(obj, not_after, file_limits())
    finally:
        _SLOTS.release(alone)


def _load_declared_kind(content_type: str) -> None:
    """Import the library of the kind the file claims to be, here, so that this
    child and the next inherit it instead of each importing it again. A false
    claim costs an import; the child still loads what the real kind needs."""
    kind = registry.declared_kind(typecheck.normalise(content_type))
    if registry.unloaded(kind):
        with isolation.no_fork():
            registry.load(kind)


def _extract_in_child(obj: StoredObject, not_after: float, limits: isolation.Limits) -> Extraction:
    wall_s = not_after - time.monotonic() + _STOP_GRACE_S
    # The client is chosen here so that the parent builds it, once: see clients.ranged_reader.
    work = functools.partial(extract_here, obj, not_after, clients.ranged_reader(not_after))
    try:
        extraction, usage = isolation.run(work, limits, wall_s)
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


def _log_usage(usage: isolation.Usage | None, limits: isolation.Limits) -> None:
    if usage is not None:
        logger.info("Extraction used", extra={
            "cpuSeconds": round(usage.cpu_seconds, 3), "peakMemoryBytes": usage.peak_memory_bytes,
            "memoryLimitBytes": limits.memory_bytes})
