"""Which function describes which kind, and so which kinds the worker accepts.
Each module in `kinds/` registers itself with `@extractor(kind, ...)` and
declares its own limits; this module imports them all, so adding a kind means
adding one module there.

Kind modules import their parsing library (Pillow, pypdf) only when a file of
their kind is described, so a worker that never sees a PDF never pays for
pypdf. `load` imports a kind's library ahead of time: the ingest worker calls
it before forking a child for a file declared to be of that kind, so the
import happens once per environment rather than once per child."""

from __future__ import annotations

import importlib
import io
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

from workers.extraction.limits import Deadline
from workers.extraction.sniff import Sniffed

# CSV, TSV, text and JSON are streamed; past this many bytes their counts are
# extrapolated (`rowsEstimated`, `linesEstimated`, `lengthEstimated`)...
STREAM_SCAN_LIMIT_BYTES = 16 * 1024 * 1024
# ...or past this share of the time budget, whichever comes first.
STREAM_SCAN_TIME_SHARE = 0.5


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
        return scanned >= STREAM_SCAN_LIMIT_BYTES or self.deadline.spent() >= STREAM_SCAN_TIME_SHARE


Describe = Callable[[Source], dict[str, Any]]
# (magic bytes, offset, mime type)
Signature = tuple[bytes, int, str]
_BY_KIND: dict[str, Describe] = {}
_LIBRARIES: dict[str, Callable[[], object]] = {}
_LOADED: set[str] = set()
_STREAMED: set[str] = set()
_SIGNATURES: list[tuple[bytes, int, str, str]] = []


def extractor(*kinds: str, signatures: tuple[Signature, ...] = (),
              library: Callable[[], object] | None = None, streamed: bool = False) -> Callable[[Describe], Describe]:
    """Registers `describe` for `kinds`; `signatures` are the magic numbers by
    which `sniff` recognises the first kind's formats, `library` imports (and
    configures) what `describe` needs, idempotently, and `streamed` says that
    `describe` scans from the start and stops at the scan limit."""
    def register(describe: Describe) -> Describe:
        for kind in kinds:
            if kind in _BY_KIND:
                raise ValueError(f"two extractors for {kind!r}")
            _BY_KIND[kind] = describe
            if library is not None:
                _LIBRARIES[kind] = library
            if streamed:
                _STREAMED.add(kind)
        _SIGNATURES.extend((magic, offset, kinds[0], mime) for magic, offset, mime in signatures)
        return describe

    return register


def streamed(kind: str) -> bool:
    return kind in _STREAMED


def declared_kind(mime: str) -> str | None:
    """The kind whose formats include `mime` (a normalised Content-Type), if any."""
    return next((kind for _, _, kind, known in _SIGNATURES if known == mime), None)


def unloaded(kind: str | None) -> bool:
    """True when describing `kind` needs a library not imported yet."""
    return kind in _LIBRARIES and kind not in _LOADED


def load(kind: str) -> None:
    """Import the library that describing `kind` needs, if it has one."""
    if kind in _LIBRARIES:
        _LIBRARIES[kind]()
        _LOADED.add(kind)


def signatures() -> tuple[tuple[bytes, int, str, str], ...]:
    """(magic bytes, offset, kind, mime) for every registered format."""
    return tuple(_SIGNATURES)


def describer(kind: str) -> Describe:
    return _BY_KIND[kind]


def accepted_kinds() -> frozenset[str]:
    """Kinds with an extractor. A sniffed kind outside these fails with
    `unsupported_type`; `binary` covers every recognised or unrecognised
    format that has no extractor of its own."""
    return frozenset(_BY_KIND)


def _register_every_kind() -> None:
    from workers.extraction import kinds

    for module in pkgutil.iter_modules(kinds.__path__):
        importlib.import_module(f"{kinds.__name__}.{module.name}")


_register_every_kind()
