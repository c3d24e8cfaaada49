"""Every kind of file the worker knows, as the kinds declare themselves.

Each module in `kinds/` registers its kinds with `@extractor(kind, ...)`, or
`active_content(kind, ...)` for content refused outright, and declares there
everything about them: the formats sniffing recognises them by, their budget,
whether they are streamed, their thumbnail. This module imports them all, so
adding a kind means adding one module there.

Kind modules import their parsing library (Pillow, pypdf) only when a file of
their kind is described, so a worker that never sees a PDF never pays for
pypdf. `load` imports a kind's library ahead of time: the ingest worker calls
it before forking a child for a file declared to be of that kind, so the
import happens once per environment rather than once per child."""

from __future__ import annotations

import functools
import importlib
import io
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workers.extraction.limits import DEFAULT_BUDGET, Deadline, ExtractBudget
from workers.extraction.sniff import AnyText, CatchAll, Empty, Magic, NotText, Opening, Shape, Sniffed, Table
from workers.extraction.thumbnail import Thumbnail

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
Signature = Magic | Opening | Shape | Empty | NotText | AnyText


@dataclass(frozen=True)
class Kind:
    """One kind as it declared itself. `describe` is None for active content,
    which is recognised only to be refused."""

    name: str
    describe: Describe | None
    signatures: tuple[Signature, ...]
    budget: ExtractBudget
    streamed: bool
    thumbnail: Thumbnail | None
    library: Callable[[], object] | None


_KINDS: dict[str, Kind] = {}
_LOADED: set[str] = set()


def extractor(*kinds: str, signatures: tuple[Signature, ...] = (), budget: ExtractBudget = DEFAULT_BUDGET,
              streamed: bool = False, thumbnail: Thumbnail | None = None,
              library: Callable[[], object] | None = None) -> Callable[[Describe], Describe]:
    """Registers `describe` for `kinds`. `signatures` are how sniffing
    recognises the first kind's formats (a `Shape` names the kind it finds
    itself), `budget` what describing one file may spend, `streamed` that
    `describe` scans from the start and stops at the scan limit, `thumbnail`
    how a file of these kinds is drawn small, and `library` imports (and
    configures) what `describe` needs, idempotently."""
    def register(describe: Describe) -> Describe:
        _register(kinds, describe, signatures, budget, streamed, thumbnail, library)
        return describe

    return register


def active_content(*kinds: str, signatures: tuple[Signature, ...]) -> None:
    """Registers content a browser or viewer would run: recognised only to be
    refused, and a disguise when declared as a passive type (`typecheck`)."""
    _register(kinds, None, signatures, DEFAULT_BUDGET, False, None, None)


def _register(kinds: tuple[str, ...], describe: Describe | None, signatures: tuple[Signature, ...],
              budget: ExtractBudget, streamed: bool, thumbnail: Thumbnail | None,
              library: Callable[[], object] | None) -> None:
    for position, name in enumerate(kinds):
        if name in _KINDS:
            raise ValueError(f"two declarations of {name!r}")
        # Sniffing names the first kind; the others are refinements `describe` finds.
        _KINDS[name] = Kind(name, describe, signatures if position == 0 else (), budget, streamed, thumbnail, library)
    table.cache_clear()


def kind(name: str) -> Kind:
    return _KINDS[name]


def declared_kind(mime: str) -> str | None:
    """The kind whose formats include `mime` (a normalised Content-Type), if any."""
    return next((found.name for found in _KINDS.values() for signature in found.signatures
                 if isinstance(signature, Magic) and signature.mime == mime), None)


def unloaded(name: str | None) -> bool:
    """True when describing `name` needs a library not imported yet."""
    return name in _KINDS and _KINDS[name].library is not None and name not in _LOADED


def load(name: str) -> None:
    """Import the library that describing `name` needs, if it has one."""
    library = _KINDS[name].library
    if library is not None:
        library()
        _LOADED.add(name)


def accepted_kinds() -> frozenset[str]:
    """Kinds with an extractor. A sniffed kind outside these fails with
    `unsupported_type`; `binary` covers every recognised or unrecognised
    format that has no extractor of its own."""
    return frozenset(name for name, found in _KINDS.items() if found.describe is not None)


def active_content_kinds() -> frozenset[str]:
    return frozenset(name for name, found in _KINDS.items() if found.describe is None)


@functools.cache
def table() -> Table:
    """The sniffing table the kinds declare. Active content is tried first, so
    that bytes that read both ways are refused; the kind that takes the bytes
    nothing recognises tries its own formats last, as every other kind
    describes its formats better."""
    kinds = sorted(_KINDS.values(), key=lambda found: found.describe is not None)
    declared = [(found.name, signature) for found in kinds for signature in found.signatures]
    empty, not_text, any_text = (_the_one(declared, form) for form in (Empty, NotText, AnyText))
    declared.sort(key=lambda item: item[0] == not_text.kind)

    def every(form: type) -> tuple:
        return tuple((name, signature) for name, signature in declared if isinstance(signature, form))

    return Table(empty=empty, magic=every(Magic), not_text=not_text, openings=every(Opening),
                 shapes=tuple(shape for _, shape in every(Shape)), any_text=any_text)


def _the_one(declared: list[tuple[str, Signature]], form: type[CatchAll]) -> Sniffed:
    found = [Sniffed(name, signature.mime) for name, signature in declared if isinstance(signature, form)]
    if len(found) != 1:
        raise ValueError(f"{len(found)} kinds declare {form.__name__}; sniffing needs exactly one")
    return found[0]


def _register_every_kind() -> None:
    from workers.extraction import kinds

    for module in pkgutil.iter_modules(kinds.__path__):
        importlib.import_module(f"{kinds.__name__}.{module.name}")


_register_every_kind()
