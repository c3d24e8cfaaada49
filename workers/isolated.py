"""Extraction with a blast radius of one file.

`extract` runs the extractors in a child process (workers/isolation.py) and
turns each way the child can end into what it means for the file:

- over its CPU time or memory: the file is `too_large`, permanently;
- killed by a signal of its own (a crash in C code): `processing_crashed`;
- stopped at the invocation's time limit: `OutOfTime`, retried later, because
  that limit belongs to the batch.

What the child cannot report is the parent dying with it (Lambda's own memory
kill or timeout). workers/ingest.py counts extraction starts on the record for
that, and quarantines a file after `IngestSettings.quarantine_after_starts`
starts that never finished.
"""

from __future__ import annotations

import functools
import os
import time

from aws_lambda_powertools import Logger

from workers import clients, isolation, settings
from workers.errors import FileRejected, OutOfTime
from workers.extractors import Extraction, StoredObject, extract as extract_here

logger = Logger(service=settings.INGEST_SERVICE, child=True)

QUARANTINE_CODE = "processing_crashed"

# What the worker itself holds besides one file's extraction: the runtime,
# boto3, Powertools and the batch in flight.
_PARENT_RESERVE_MB = 256
# The child reports OutOfTime itself when the invocation's limit passes during a
# read; it is only stopped from outside if it does not, a moment later, which
# must still come before Lambda's own timeout (the record reserve is at least
# a quarter of a second).
_STOP_GRACE_S = 0.1


def file_limits() -> isolation.Limits:
    """One file's share of the function: its CPU budget, and the function's
    memory less what the worker needs to survive the file."""
    function_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", settings.INGEST.worker_memory_mb))
    return isolation.Limits(
        cpu_seconds=settings.EXTRACT_SECONDS,
        memory_bytes=max(function_mb - _PARENT_RESERVE_MB, function_mb // 4) * settings.MiB,
    )


def extract(obj: StoredObject, not_after: float | None) -> Extraction:
    limits = file_limits()
    wall_s = (not_after - time.monotonic() + _STOP_GRACE_S) if not_after is not None else settings.INGEST.worker_timeout_s
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
