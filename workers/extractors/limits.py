"""The time budget of one extraction, checked wherever bytes are read or parsed."""

from __future__ import annotations

import time

from workers.errors import FileRejected, OutOfTime


class Deadline:
    """Raises `too_large` once the budget is spent. Expiry is sticky, so a parser
    that swallows the first exception still fails on its next read, and the
    caller can tell afterwards that the budget, not the file, ended the work.

    `not_after` (a `time.monotonic()` instant) is the invocation's own limit. When
    it comes before the budget would end, running out is the batch's problem,
    not the file's, and raises `OutOfTime` so the record is retried."""

    def __init__(self, seconds: float, not_after: float | None = None) -> None:
        self._start = time.monotonic()
        self._at = self._start + seconds
        self.cut = not_after is not None and not_after < self._at
        if self.cut:
            self._at = not_after
        self.seconds = self._at - self._start
        self.expired = False

    def spent(self) -> float:
        """The share of the budget used so far."""
        return (time.monotonic() - self._start) / self.seconds

    def check(self) -> None:
        if self.expired or time.monotonic() > self._at:
            self.expired = True
            raise self.rejection()

    def rejection(self) -> FileRejected | OutOfTime:
        if self.cut:
            return OutOfTime("The invocation's time ran out before this file's budget did")
        return FileRejected("too_large", f"Processing took longer than the {self.seconds:g}-second budget")
