"""A kind is one module: everything about it is declared where it registers,
so the rest of the worker never names one, and a kind registered anywhere
is sniffed, budgeted, described and drawn like the ones in `kinds/`."""

import ast
from pathlib import Path

import pytest

from tests.invocation import extract
from workers.errors import FileRejected
from workers.extraction import limits, registry, thumbnail
from workers.extraction.limits import ExtractBudget, MiB
from workers.extraction.sniff import Magic

WORKERS = Path(__file__).resolve().parents[2] / "workers"
KINDS = WORKERS / "extraction" / "kinds"

GLYPH_MIME = "application/x-glyph"
GLYPH_FETCH_BYTES = 512 * 1024


def test_no_module_outside_kinds_names_a_kind():
    kinds = registry.accepted_kinds() | registry.active_content_kinds()
    named = [
        f"{path.relative_to(WORKERS)}:{node.lineno} names {node.value!r}"
        for path in sorted(WORKERS.rglob("*.py")) if KINDS not in path.parents
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in kinds
    ]
    assert not named


@pytest.fixture
def glyph():
    """A kind registered from here, as a module in `kinds/` would register it:
    its own signature, budget and thumbnail. It reads the whole file."""
    saved = dict(registry._KINDS)
    seen = []

    @registry.extractor(
        "glyph",
        signatures=(Magic(GLYPH_MIME, {0: b"GLYPH", 8: b"v1"}),),
        budget=ExtractBudget(fetch_bytes=GLYPH_FETCH_BYTES, memory_bytes=8 * MiB, time_share=0.5),
        thumbnail=thumbnail.Thumbnail(wanted=lambda metadata, size: metadata["glyphs"] > 0,
                                      render=lambda stream: b"drawn:" + stream.read(5), max_bytes=1024),
    )
    def describe(source):
        seen.append(source.deadline.seconds)
        return {"glyphs": source.stream.read().count(b"*")}

    yield seen
    registry._KINDS.clear()
    registry._KINDS.update(saved)
    registry.table.cache_clear()


def glyph_file(body: bytes) -> bytes:
    return b"GLYPH\x00\x00\x00v1" + body


def test_a_kind_registered_from_a_test_module_is_sniffed_described_budgeted_and_drawn(store, glyph):
    extraction = extract(store(glyph_file(b"***"), GLYPH_MIME))
    assert extraction.metadata == {"kind": "glyph", "sniffedType": GLYPH_MIME, "glyphs": 3}
    assert glyph == [0.5 * limits.EXTRACT_SECONDS]
    assert extraction.thumbnail == b"drawn:GLYPH"
    assert registry.declared_kind(GLYPH_MIME) == "glyph"


def test_a_registered_kind_reads_no_more_than_its_own_budget(store, glyph):
    with pytest.raises(FileRejected) as rejected:
        extract(store(glyph_file(b"*" * 2 * GLYPH_FETCH_BYTES), GLYPH_MIME))
    assert rejected.value.code == "too_large"


def test_a_registered_kind_draws_only_the_files_it_wants_to(store, glyph):
    assert extract(store(glyph_file(b"..."), GLYPH_MIME)).thumbnail is None


def test_bytes_a_registered_kind_does_not_claim_are_still_what_they_were(store, glyph):
    metadata = extract(store(b"GLYPH\x00\x00\x00v2", "application/octet-stream")).metadata
    assert metadata["kind"] == "binary"
