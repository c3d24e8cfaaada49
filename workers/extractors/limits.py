"""The time budget of one extraction, checked wherever bytes are read or parsed."""

from __future__ import annotations

import time

from workers.errors import FileRejected


class Deadline:
    """Raises `too_large` once the budget is spent. Expiry is sticky, so a parser
    that swallows the first exception still fails on its next read, and the
    caller can tell afterwards that the budget, not the file, ended the work."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._start = time.monotonic()
        self._at = self._start + seconds
        self.expired = False

    def spent(self) -> float:
        """The share of the budget used so far."""
        return (time.monotonic() - self._start) / self.seconds

    def check(self) -> None:
        if self.expired or time.monotonic() > self._at:
            self.expired = True
            raise self.rejection()

    def rejection(self) -> FileRejected:
        return FileRejected("too_large", f"Processing took longer than the {self.seconds:g}-second budget")
