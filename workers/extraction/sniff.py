"""What a file is, from its first bytes; the declared Content-Type plays no part.

Sniffing knows how to look, not what it looks for: the kinds declare their
formats (`registry.extractor`) and `sniff` is handed the table they make.
Binary formats are recognised by their magic numbers. Text is recognised by
how it opens, then by the structure a kind reads in it, and is plain text
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from workers.extraction import textio

# Sniffing reads this much from the start of the object.
SNIFF_BYTES = 64 * 1024

EMPTY_MIME = "application/x-empty"


@dataclass(frozen=True)
class Sniffed:
    kind: str
    mime: str
    encoding: str | None = None
    delimiter: str | None = None


@dataclass(frozen=True)
class Magic:
    """A binary format known by fixed bytes at fixed offsets, every one of which
    must be there: a WebP is RIFF at 0 and WEBP at 8."""

    mime: str
    at: Mapping[int, bytes]

    def matches(self, head: bytes) -> bool:
        return all(head[offset : offset + len(magic)] == magic for offset, magic in self.at.items())


@dataclass(frozen=True)
class Opening:
    """A text format known by how its text opens, past a BOM and whitespace."""

    mime: str
    matches: Callable[[str], bool]


@dataclass(frozen=True)
class Sample:
    """Text that no opening placed, for a kind that reads its structure. `check`
    is called between steps of that reading, so the caller can count it against
    a deadline (by raising)."""

    text: str
    encoding: str
    declared: str
    whole: bool
    check: Callable[[], None]


@dataclass(frozen=True)
class Shape:
    """Text formats known by their structure: `read` answers which of `kinds`
    the sample is, or None when it is none of them."""

    kinds: tuple[str, ...]
    read: Callable[[Sample], Sniffed | None]


@dataclass(frozen=True)
class CatchAll:
    """What is left once everything more specific was tried: one kind
    declares each of the three below."""

    mime: str


class Empty(CatchAll):
    """What zero bytes are."""


class NotText(CatchAll):
    """What bytes are that no magic number and no text encoding explains."""


class AnyText(CatchAll):
    """What text is that nothing else reads."""


@dataclass(frozen=True)
class Table:
    """What sniffing recognises, each with the kind it names, in the order tried."""

    empty: Sniffed
    magic: tuple[tuple[str, Magic], ...]
    not_text: Sniffed
    openings: tuple[tuple[str, Opening], ...]
    shapes: tuple[Shape, ...]
    any_text: Sniffed

    def kinds(self) -> frozenset[str]:
        """Every kind sniffing can answer."""
        return frozenset({self.empty.kind, self.not_text.kind, self.any_text.kind,
                          *(kind for kind, _ in (*self.magic, *self.openings)),
                          *(kind for shape in self.shapes for kind in shape.kinds)})


def sniff(head: bytes, table: Table, declared: str = "", *, whole: bool = True,
          check: Callable[[], None]) -> Sniffed:
    """Classify the first bytes of an object (`whole` when they are all of it).
    `declared` only breaks a tie between two harmless readings of the same
    text: a table with one column is also plain text. `check` is called between
    steps of the text analysis, so a caller can count it against a deadline
    (by raising)."""
    if not head:
        return table.empty
    for kind, magic in table.magic:
        if magic.matches(head):
            return Sniffed(kind, magic.mime)
    encoding = textio.detect_encoding(head)
    if encoding is None:
        return table.not_text
    text = textio.decode_sample(head, encoding)
    start = text.lstrip("\ufeff \t\r\n\f")
    for kind, opening in table.openings:
        if opening.matches(start):
            return Sniffed(kind, opening.mime, encoding)
    sample = Sample(text, encoding, declared, whole, check)
    for shape in table.shapes:
        if (sniffed := shape.read(sample)) is not None:
            return sniffed
    return Sniffed(table.any_text.kind, table.any_text.mime, encoding)
