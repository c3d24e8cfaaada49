"""Which function describes which kind. Each extractor module registers itself
with `@extractor(kind, ...)`; the package imports every module, so adding a
kind means adding one module."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable

from workers import settings
from workers.extractors.limits import Deadline
from workers.extractors.sniff import Sniffed


@dataclass(frozen=True)
class Source:
    """What an extractor gets: the object as a seekable binary file, what
    sniffing found, and the deadline its own loops must check."""

    stream: io.BufferedReader
    size: int
    sniffed: Sniffed
    deadline: Deadline

    def stop_scanning(self, scanned: float) -> bool:
        """True when a streaming extractor should extrapolate from what it has
        scanned: past the scan limit, or past its share of the time budget
        (a slow CPU then yields an estimate rather than a failure)."""
        if scanned >= self.size:
            return False
        return scanned >= settings.STREAM_SCAN_LIMIT_BYTES or self.deadline.spent() >= settings.STREAM_SCAN_TIME_SHARE


Describe = Callable[[Source], dict[str, Any]]
_BY_KIND: dict[str, Describe] = {}


def extractor(*kinds: str) -> Callable[[Describe], Describe]:
    def register(describe: Describe) -> Describe:
        for kind in kinds:
            if kind in _BY_KIND:
                raise ValueError(f"two extractors for {kind!r}")
            _BY_KIND[kind] = describe
        return describe

    return register


def describer(kind: str) -> Describe:
    return _BY_KIND[kind]


def kinds() -> frozenset[str]:
    return frozenset(_BY_KIND)
