"""The time budget of one extraction, checked wherever bytes are read or parsed."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass

from contract.ingest import INGEST, IngestSettings
from workers.errors import FileRejected, OutOfTime

MiB = 1024 * 1024


@dataclass(frozen=True)
class ExtractBudget:
    """What one extractor may spend on one file. Time is checked on every read and
    in every parse loop. Fetched bytes are capped in the reader, which also
    caps what a parser that slurps the rest of the file can hold. Memory is
    bounded by those caps and the per-kind structure limits, and measured
    against `memory_bytes` in tests. A kind's time is a share of the file's
    time budget, which the function's memory sets."""

    fetch_bytes: int
    memory_bytes: int
    time_share: float = 1.0

    @property
    def seconds(self) -> float:
        return self.time_share * EXTRACT_SECONDS


def function(memory_mb: int | None = None) -> IngestSettings:
    """The deployed settings at the memory this function really has (Lambda
    sets the variable): the memory buys the CPU, so the budgets follow it."""
    if memory_mb is None:
        memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", INGEST.worker_memory_mb))
    return dataclasses.replace(INGEST, worker_memory_mb=memory_mb)


EXTRACT_SECONDS = function().extract_seconds
EXTRACT_CPU_SECONDS = function().extract_cpu_seconds
# Sniffing's budget, and every kind's that declares none. Streaming kinds
# fetch up to the scan limit; a damaged PDF makes pypdf search the whole file
# for its objects, holding what it read twice.
DEFAULT_BUDGET = ExtractBudget(fetch_bytes=48 * MiB, memory_bytes=128 * MiB)
# The streamed kinds' (CSV, JSON, JSON Lines, text): the reader's cache and one
# capped value, line or row, decoded. The hostile corpus's worst is 46 MiB of
# resident growth (a JSON string just past the 8 MiB value cap); a 200 MB file
# streams in under 24 MiB (tests/extractors/test_memory.py).
STREAMED_BUDGET = ExtractBudget(fetch_bytes=DEFAULT_BUDGET.fetch_bytes, memory_bytes=96 * MiB)


class Deadline:
    """Raises `too_large` once the file's budget is spent. Expiry is sticky, so a
    parser that swallows the first exception still fails on its next read, and
    the caller can tell afterwards that the budget, not the file, ended the work.

    The budget counts the file's own work only: time spent waiting on S3 is
    `excluded`, because a slow S3 says nothing about the file.

    `not_after` (a `time.monotonic()` instant) is the invocation's own limit, and
    it counts everything. Reaching it first is the batch's problem, not the
    file's, and raises `OutOfTime` so the record is retried."""

    def __init__(self, seconds: float, not_after: float) -> None:
        self._start = time.monotonic()
        self.seconds = seconds
        self._not_after = not_after
        self._excluded = 0.0
        self._rejection: FileRejected | OutOfTime | None = None

    @property
    def expired(self) -> bool:
        return self._rejection is not None

    def resized(self, seconds: float) -> Deadline:
        """The same clock with another budget: what was spent so far still counts."""
        resized = Deadline(seconds, self._not_after)
        resized._start, resized._excluded, resized._rejection = self._start, self._excluded, self._rejection
        return resized

    def exclude(self, seconds: float) -> None:
        """Give back time the file did not cause (waiting on S3)."""
        self._excluded += seconds

    def spent(self) -> float:
        """The share of the budget used so far."""
        return self._used(time.monotonic()) / self.seconds if self.seconds > 0 else 1.0

    def check(self) -> None:
        if self._rejection is None:
            now = time.monotonic()
            if now > self._not_after:
                self._rejection = OutOfTime("The invocation's time ran out before this file's budget did")
            elif self._used(now) > self.seconds:
                self._rejection = FileRejected(
                    "too_large", f"Processing took longer than the {self.seconds:g}-second budget"
                )
        if self._rejection is not None:
            raise self._rejection

    def _used(self, now: float) -> float:
        return now - self._start - self._excluded
