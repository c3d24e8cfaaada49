"""No file can hurt another: a hostile corpus of files and events, each with the
outcome the worker owes it.

A file ends as a record, `processed` with its kind or `failed` with a specific
code; an event is acknowledged (ignored or applied) or reported as a batch item
failure, so SQS retries it and then keeps it in the DLQ as evidence. Nothing
may escape, hang, or outgrow its memory: a file the extraction budget of the
kind it claims to be, an event the worker's memory. Every case is measured over
its processing alone (the object is stored first): wall time, traced peak
memory, and growth of the process's maximum resident set, which also sees what
C libraries allocate. The module prints a summary line when it ends.

Cases marked xfail are known wrong outcomes; each reason says what happens
instead, so a case flips (and strict xfail fails) once its fix merges.
"""

from __future__ import annotations

import json
import resource
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from contract.ingest import INGEST
from tests.extractors import files
from tests.workers import hostile
from tests.workers.conftest import apply, put, record, stack_account
from tests.workers.s3_events import BUCKET, notification, s3_event, s3_test_event_body, sqs_event
from workers.extraction import isolation, pool, registry
from workers.extraction.limits import DEFAULT_BUDGET, EXTRACT_SECONDS, ExtractBudget
from workers.ingest import handler as ingest
from workers.ingest.notifications import parse_body
from workers.storage import clients

MiB = hostile.MiB
# The per-file budget, plus the moto round trips around it (HEAD, ranged GETs,
# the record's write), which tracemalloc slows down.
TIME_LIMIT_S = EXTRACT_SECONDS + 2.0
WORKER_MEMORY_BYTES = INGEST.worker_memory_mb * MiB
OWNER = "mallory"
INNOCENT_KEY = "incoming/innocent/f-innocent/notes.txt"


@dataclass
class Measured:
    outcome: str
    seconds: float
    peak_bytes: int
    rss_growth_bytes: int

    def __str__(self) -> str:
        return (f"{self.outcome} in {self.seconds:.2f} s, traced peak {self.peak_bytes / MiB:.1f} MiB, "
                f"max-RSS growth {self.rss_growth_bytes / MiB:.1f} MiB")


@dataclass
class Ledger:
    rows: list[tuple[str, Measured, list[str]]] = field(default_factory=list)

    def add(self, name: str, measured: Measured, problems: list[str]) -> None:
        self.rows.append((name, measured, problems))
        print(f"{name}: {measured}; {'; '.join(problems) or 'as expected'}")

    def summary(self) -> str:
        met = sum(not problems for _, _, problems in self.rows)
        peak_name, peak, _ = max(self.rows, key=lambda row: row[1].peak_bytes)
        slow_name, slow, _ = max(self.rows, key=lambda row: row[1].seconds)
        rss_name, rss, _ = max(self.rows, key=lambda row: row[1].rss_growth_bytes)
        return (f"hostile corpus: {len(self.rows)} tried, {met} met their expected outcome and limits; "
                f"peak traced memory {peak.peak_bytes / MiB:.1f} MiB ({peak_name}); "
                f"largest max-RSS growth {rss.rss_growth_bytes / MiB:.1f} MiB ({rss_name}); "
                f"slowest {slow.seconds:.2f} s ({slow_name})")


LEDGER = Ledger()


@pytest.fixture(scope="module")
def shared_aws():
    """One moto account for the whole corpus: creating one costs more than most
    cases do. Every file case has keys of its own."""
    with pytest.MonkeyPatch.context() as monkeypatch, stack_account(monkeypatch):
        yield


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    yield
    if LEDGER.rows:
        plugins = request.config.pluginmanager
        with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
            plugins.get_plugin("terminalreporter").write_line("\n" + LEDGER.summary())


def measure(run: Callable[[], str], *, traced: bool) -> Measured:
    """Run `run` (which names its outcome); an exception is an outcome too.
    Tracing slows allocation-heavy parsers several times over, enough to trip
    their deadlines, so files are timed untraced and traced in a second run.
    Extraction runs in a worker process, which reports its own peak memory."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children: list[isolation.Usage] = []
    real_run = pool.Pool.run

    def run_and_note_usage(*args, **kwargs):
        try:
            value, usage = real_run(*args, **kwargs)
        except Exception as error:
            children.extend(filter(None, [getattr(error, "usage", None)]))
            raise
        children.append(usage)
        return value, usage

    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pool.Pool, "run", run_and_note_usage)
        try:
            outcome = run()
        except Exception as error:
            outcome = f"raised {type(error).__name__}: {error}"[:200]
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    # ru_maxrss is in KiB on Linux. Growth of the high-water mark is a lower
    # bound on what the run held, and it also sees memory C libraries allocate.
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    growth = max([growth, *(usage.peak_memory_bytes for usage in children)])
    return Measured(outcome, seconds, peak, growth)


def problems_with(measured: Measured, expected: str, *, seconds: float = TIME_LIMIT_S,
                  memory_bytes: int = WORKER_MEMORY_BYTES) -> list[str]:
    """Everything wrong with a case, so one failure reports all of it."""
    problems = []
    if measured.outcome != expected:
        problems.append(f"expected {expected}")
    if measured.seconds >= seconds:
        problems.append(f"over the {seconds:g} s limit")
    if max(measured.peak_bytes, measured.rss_growth_bytes) >= memory_bytes:
        problems.append(f"over the {memory_bytes / MiB:g} MiB memory limit")
    return problems


# --- Files -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCase:
    name: str
    make: Callable[[], bytes]
    content_type: str
    # "processed:<kind>" or "failed:<code>"
    expected: str
    # Metadata the record must carry, beyond its kind.
    metadata: dict = field(default_factory=dict)
    # The extraction budget of the kind the file claims to be, which is
    # stricter than the worker's memory.
    memory_budget: ExtractBudget = DEFAULT_BUDGET
    seconds: float = TIME_LIMIT_S


def file_case(name, make, content_type, expected, *, bug: str | None = None, **options):
    claimed = registry.declared_kind(content_type) or ("image" if content_type.startswith("image/") else None)
    budget = registry.kind(claimed).budget if claimed else DEFAULT_BUDGET
    case = FileCase(name, make, content_type, expected, memory_budget=budget, **options)
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(case, id=name, marks=marks)


PNG, JPEG, GIF, WEBP, TIFF = (hostile.photo(fmt) for fmt in ("PNG", "JPEG", "GIF", "WEBP", "TIFF"))
DOCX = files.ooxml("word/document.xml")
XLSX = files.ooxml("xl/workbook.xml")
PPTX = files.ooxml("ppt/presentation.xml")
OOXML = "application/vnd.openxmlformats-officedocument."
PARQUET_TYPE = "application/vnd.apache.parquet"
PARQUET = hostile.parquet_file()

FILE_CASES = [
    # Truncated and corrupt files of each kind.
    file_case("truncated-png", lambda: hostile.cut(PNG), "image/png", "failed:corrupt"),
    file_case("png-signature-only", lambda: PNG[:8], "image/png", "failed:corrupt"),
    file_case("png-bad-crc", lambda: PNG[:29] + b"\x00\x00\x00\x00" + PNG[33:], "image/png", "failed:corrupt"),
    file_case("truncated-jpeg", lambda: hostile.cut(JPEG), "image/jpeg", "failed:corrupt"),
    file_case("jpeg-marker-then-noise", lambda: b"\xff\xd8\xff" + bytes(range(256)) * 64, "image/jpeg",
              "failed:corrupt"),
    file_case("truncated-gif", lambda: hostile.cut(GIF, 0.3), "image/gif", "failed:corrupt"),
    file_case("truncated-webp", lambda: hostile.cut(WEBP), "image/webp", "failed:corrupt"),
    file_case("truncated-tiff", lambda: hostile.cut(TIFF, 0.1), "image/tiff", "failed:corrupt"),
    file_case("tiff-ifd-loop", lambda: hostile.tiff_declaring(4, 4, next_ifd=8), "image/tiff", "processed:image",
              metadata={"frames": 1}),
    file_case("truncated-pdf", lambda: hostile.cut(files.pdf(5)), "application/pdf", "failed:corrupt"),
    file_case("pdf-header-only", lambda: b"%PDF-1.7\n", "application/pdf", "failed:corrupt"),
    file_case("truncated-zip", lambda: hostile.cut(files.archive({"a.txt": b"hello" * 1000})), "application/zip",
              "failed:corrupt"),
    file_case("zip-directory-larger-than-the-file", hostile.zip_directory_larger_than_the_file, "application/zip",
              "failed:corrupt"),
    file_case("truncated-docx", lambda: hostile.cut(DOCX), OOXML + "wordprocessingml.document", "failed:corrupt"),
    file_case("truncated-xlsx", lambda: hostile.cut(XLSX, 0.9), OOXML + "spreadsheetml.sheet", "failed:corrupt"),
    file_case("truncated-pptx", lambda: hostile.cut(PPTX, 0.2), OOXML + "presentationml.presentation",
              "failed:corrupt"),
    file_case("truncated-json", lambda: b'{"a": [1, 2, {"b": "unfinished', "application/json", "processed:json",
              metadata={"valid": False}),
    file_case("truncated-csv-inside-a-quote", lambda: b'id,note\n1,plain\n2,"cut here', "text/csv", "processed:csv"),
    # Polyglots and disguises.
    file_case("pdf-with-a-zip-appended", hostile.pdf_then_zip, "application/pdf", "processed:pdf",
              metadata={"pages": 1}),
    file_case("zip-with-a-pdf-appended", hostile.zip_then_pdf, "application/zip", "processed:zip",
              metadata={"entries": 1}),
    file_case("gifar", hostile.gifar, "image/gif", "processed:image", metadata={"format": "GIF"}),
    file_case("png-with-html-appended", lambda: PNG + hostile.HTML, "image/png", "processed:image",
              metadata={"format": "PNG"}),
    file_case("html-behind-a-png-signature", lambda: b"\x89PNG\r\n\x1a\n" + hostile.HTML, "image/png",
              "failed:corrupt"),
    file_case("html-declared-png", lambda: hostile.HTML, "image/png", "failed:type_mismatch"),
    file_case("svg-with-script-declared-png", lambda: hostile.SVG_WITH_SCRIPT, "image/png", "failed:type_mismatch"),
    file_case("svg-with-script-declared-text", lambda: hostile.SVG_WITH_SCRIPT, "text/plain",
              "failed:unsupported_type"),
    file_case("exe-declared-pdf", hostile.exe, "application/pdf", "failed:type_mismatch"),
    file_case("exe-declared-octet-stream", hostile.exe, "application/octet-stream", "failed:unsupported_type"),
    file_case("script-declared-text", lambda: b"#!/bin/sh\nrm -rf /\n", "text/plain", "failed:unsupported_type"),
    file_case("empty-declared-png", lambda: b"", "image/png", "processed:empty"),
    # Image bombs: dimensions declared far beyond what the worker decodes.
    file_case("png-declaring-100k-by-100k", lambda: hostile.png_declaring(100_000, 100_000), "image/png",
              "failed:image_bomb"),
    file_case("png-real-decompression-bomb", files.png_bomb, "image/png", "failed:image_bomb"),
    file_case("gif-declaring-65k-by-65k", lambda: hostile.gif_declaring(65_535, 65_535), "image/gif",
              "failed:image_bomb"),
    file_case("jpeg-declaring-65k-by-65k", lambda: hostile.jpeg_declaring(65_500, 65_500), "image/jpeg",
              "failed:image_bomb"),
    file_case("webp-declaring-16k-by-16k", lambda: hostile.webp_declaring(16_384, 16_384), "image/webp",
              "failed:image_bomb"),
    file_case("webp-canvas-without-frames", lambda: hostile.webp_canvas_without_frames(16_384, 16_384), "image/webp",
              "failed:image_bomb"),
    file_case("tiff-declaring-100k-by-100k", lambda: hostile.tiff_declaring(100_000, 100_000), "image/tiff",
              "failed:image_bomb"),
    # Described from its header; its pixels are never decoded (too many for a thumbnail).
    file_case("png-header-only-under-the-pixel-limit", lambda: hostile.png_declaring(14_000, 14_000), "image/png",
              "processed:image", metadata={"width": 14_000}),
    file_case("png-100m-black-pixels", lambda: hostile.png_filled(10_000, 10_000), "image/png", "processed:image",
              metadata={"width": 10_000}),
    file_case("gif-with-20k-frames", lambda: hostile.many_frame_gif(20_000), "image/gif", "processed:image",
              metadata={"frames": 20_000}),
    # HEIC/HEIF and AVIF: truncated, lying about their size, and a gigapixel declared.
    file_case("truncated-heic", lambda: hostile.cut(files.heif("HEIF")), "image/heic", "failed:corrupt"),
    file_case("truncated-avif", lambda: hostile.cut(files.heif("AVIF")), "image/avif", "failed:corrupt"),
    file_case("heic-brand-then-noise", lambda: hostile.HEIC_BRAND + bytes(range(256)) * 64, "image/heic",
              "failed:corrupt"),
    file_case("heic-declaring-20k-by-20k-over-64-by-48", lambda: hostile.heif_declaring("HEIF", 20_000, 20_000),
              "image/heic", "failed:corrupt"),
    file_case("avif-declaring-20k-by-20k-over-64-by-48", lambda: hostile.heif_declaring("AVIF", 20_000, 20_000),
              "image/avif", "failed:corrupt"),
    # An iPhone's 12 megapixels, described and drawn within the kind's memory.
    file_case("heic-12-megapixels", lambda: files.heif("HEIF", (4032, 3024), exif=True), "image/heic",
              "processed:heif", metadata={"width": 4032, "height": 3024}),
    file_case("avif-12-megapixels", lambda: files.heif("AVIF", (4032, 3024)), "image/avif", "processed:heif",
              metadata={"width": 4032, "height": 3024}),
    file_case("heic-declaring-100k-by-100k", lambda: hostile.heif_declaring("HEIF", 100_000, 100_000), "image/heic",
              "failed:image_bomb"),
    # Audio and video: truncated, lying, and a huge index claimed.
    file_case("truncated-mp4-index-at-the-end", lambda: hostile.cut(files.video("mp4", "mpeg4"), 0.9), "video/mp4",
              "failed:corrupt"),
    file_case("truncated-wav-header", lambda: files.wav()[:20], "audio/wav", "failed:corrupt"),
    file_case("flac-header-of-noise", lambda: b"fLaC" + bytes(range(256)) * 16, "audio/flac", "processed:audio"),
    file_case("matroska-of-0xff", lambda: b"\x1aE\xdf\xa3" + b"\xff" * 65_536, "video/webm", "failed:corrupt"),
    # MediaInfo reads the box to the end of the file, and what it holds is true.
    file_case("mp4-moov-claiming-4-gib", hostile.mp4_moov_claiming_4_gib, "video/mp4", "processed:video",
              metadata={"durationSeconds": 2.0}),
    # Archive bombs.
    file_case("zip-bomb-high-ratio", lambda: files.zip_bomb(256 * MiB), "application/zip", "failed:archive_bomb"),
    file_case("zip-bomb-overlapping-entries", files.overlapping_zip_bomb, "application/zip", "failed:archive_bomb"),
    file_case("zip-claiming-3-gib-from-1-kb", lambda: hostile.zip_claiming(3 * 1024 * MiB), "application/zip",
              "failed:archive_bomb"),
    # The directory is counted, not the claim: this one is empty, and harmless.
    file_case("zip64-claiming-a-trillion-entries", lambda: hostile.zip64_of(b"", 10**12), "application/zip",
              "processed:zip", metadata={"entries": 0}),
    file_case("zip64-claiming-a-1-tib-directory", lambda: hostile.zip64_of(b"", 1, directory_bytes=2**40),
              "application/zip", "failed:too_large"),
    file_case("zip64-locator-past-the-end", lambda: hostile.zip64_of(b"", 1, record_at=2**40), "application/zip",
              "failed:corrupt"),
    file_case("zip64-with-120k-entries", lambda: hostile.zip64_of(hostile.empty_entries(120_000), 120_000),
              "application/zip", "failed:archive_bomb"),
    file_case("zip64-with-20k-entries", lambda: hostile.zip64_of(hostile.empty_entries(20_000), 20_000),
              "application/zip", "processed:zip", metadata={"entries": 20_000}),
    file_case("zip-claiming-1-entry-holding-150k", lambda: hostile.zip_understating_entries(150_000), "application/zip",
              "failed:archive_bomb"),
    file_case("nested-zips", hostile.nested_zip, "application/zip", "processed:zip", metadata={"entries": 16}),
    # Entity expansion inside OOXML parts: packages are judged from the directory, never parsed.
    file_case("docx-billion-laughs", lambda: hostile.ooxml_with_laughs("word/document.xml"),
              OOXML + "wordprocessingml.document", "processed:docx"),
    file_case("xlsx-billion-laughs", lambda: hostile.ooxml_with_laughs("xl/workbook.xml"),
              OOXML + "spreadsheetml.sheet", "processed:xlsx"),
    file_case("pptx-billion-laughs", lambda: hostile.ooxml_with_laughs("ppt/presentation.xml"),
              OOXML + "presentationml.presentation", "processed:pptx"),
    # PDF bombs.
    file_case("pdf-title-nested-100k-arrays", lambda: hostile.pdf_nested_title(100_000), "application/pdf",
              "failed:corrupt"),
    file_case("pdf-title-nested-3k-dictionaries", lambda: hostile.pdf_nested_dictionaries(3_000), "application/pdf",
              "processed:pdf"),
    file_case("pdf-page-tree-claiming-2-billion-pages", lambda: hostile.pdf_page_count(2_000_000_000),
              "application/pdf", "processed:pdf"),
    file_case("pdf-page-tree-that-is-its-own-kid", hostile.pdf_recursive_kids, "application/pdf", "failed:corrupt"),
    file_case("pdf-content-stream-flate-bomb", lambda: hostile.pdf_flate_bomb_content(128 * MiB), "application/pdf",
              "processed:pdf", metadata={"pages": 1, "preview": "none: the page inflates past 16777216 bytes"}),
    file_case("pdf-form-in-a-form-flate-bomb", lambda: hostile.pdf_nested_form_flate_bomb(128 * MiB), "application/pdf",
              "processed:pdf", metadata={"pages": 1, "preview": "none: the page inflates past 16777216 bytes"}),
    file_case("pdf-first-page-drawn", lambda: files.drawn_pdf((2480, 3508)), "application/pdf", "processed:pdf",
              metadata={"pages": 1, "preview": "first page"}),
    file_case("pdf-page-image-declaring-100k-by-100k", lambda: hostile.pdf_image_declaring(100_000, 100_000),
              "application/pdf", "processed:pdf",
              metadata={"pages": 1, "preview": "none: an image on the page has too many pixels"}),
    file_case("pdf-object-stream-flate-bomb", lambda: hostile.pdf_flate_bomb_object_stream(128 * MiB),
              "application/pdf", "failed:too_large"),
    # JSON.
    file_case("json-nested-100k-levels", lambda: hostile.deep_json(100_000), "application/json", "processed:json",
              metadata={"valid": None}),
    # Half the scan limit: scanning all 16 MiB of it took 2.5 s of CPU, too close
    # to a file's 2.8 s at 1024 MB for the outcome not to depend on the machine.
    file_case("json-with-500k-keys", lambda: hostile.wide_json(500_000), "application/json", "processed:json"),
    file_case("json-string-of-9-mib", lambda: b'["' + b"x" * (9 * MiB) + b'"]', "application/json", "processed:json",
              metadata={"valid": None}),
    # Delimited text.
    file_case("csv-unterminated-quote-over-3-mib", lambda: hostile.csv_unterminated_quote(3 * MiB), "text/csv",
              "failed:too_large"),
    file_case("csv-one-row-of-ab-over-8-mib", lambda: hostile.csv_one_row(8 * MiB), "text/csv", "failed:too_large"),
    # The whole 64 KiB sniff window: csv.Sniffer took a minute on this at 32 KiB.
    file_case("csv-quote-newline-pairs", lambda: b'"\n' * 32_768, "text/csv", "processed:csv", seconds=1.0),
    file_case("csv-mixed-delimiters", lambda: hostile.csv_mixed_delimiters(2_000), "text/csv", "processed:csv"),
    # Parquet: the footer is all that is read, so the footer is what lies.
    file_case("truncated-parquet", lambda: hostile.cut(PARQUET), PARQUET_TYPE, "failed:corrupt"),
    file_case("parquet-footer-length-past-the-file", lambda: hostile.parquet_footer_length(PARQUET, 2**32 - 1),
              PARQUET_TYPE, "failed:corrupt"),
    file_case("parquet-footer-of-4-mib", lambda: files.parquet_footer(b"\x00" * (4 * MiB)), PARQUET_TYPE,
              "failed:too_large"),
    file_case("parquet-footer-of-noise", lambda: files.parquet_footer(bytes(range(256)) * 64), PARQUET_TYPE,
              "failed:corrupt"),
    file_case("parquet-thrift-nested-100k-levels", lambda: hostile.parquet_nested_thrift(100_000), PARQUET_TYPE,
              "failed:corrupt"),
    file_case("parquet-list-claiming-2-billion-elements", hostile.parquet_claiming_list, PARQUET_TYPE,
              "failed:corrupt"),
    file_case("parquet-million-empty-column-chunks", lambda: files.parquet_chunk_bomb(1_000_000), PARQUET_TYPE,
              "processed:parquet", metadata={"rowGroups": 1}),
    file_case("parquet-schema-of-200k-leaves", lambda: hostile.parquet_schema_of_leaves(200_000),
              PARQUET_TYPE, "processed:parquet", metadata={"columnCount": 200_000}),
    file_case("csv-declared-parquet", lambda: b"a,b\n1,2\n", PARQUET_TYPE, "processed:csv"),
    # JSON Lines.
    file_case("truncated-jsonl", lambda: b'{"a": 1}\n{"a": 2}\n{"a": "cut', "application/x-ndjson", "processed:jsonl",
              metadata={"records": 2, "invalidLines": 1}),
    file_case("jsonl-line-nested-100k-levels", lambda: b'{"a": 1}\n{"a": 2}\n' + hostile.deep_json(100_000),
              "application/x-ndjson", "processed:jsonl", metadata={"valid": None}),
    file_case("jsonl-line-of-9-mib", lambda: b'{"a": 1}\n{"a": 2}\n["' + b"x" * (9 * MiB) + b'"]\n',
              "application/x-ndjson", "failed:too_large"),
    file_case("csv-nul-bytes-in-the-head", lambda: b"a,b\n1,\x00\n2,3\n", "text/csv", "processed:binary"),
    file_case("csv-nul-bytes-past-the-sniff-window", hostile.csv_with_nul_past_the_sniff_window, "text/csv",
              "processed:csv", metadata={"rows": 20_001}),
]


@pytest.mark.parametrize("case", FILE_CASES)
def test_a_hostile_file_ends_in_its_expected_record_within_limits(shared_aws, case: FileCase):
    data = case.make()

    def prepare(file_id: str) -> Callable[[], str]:
        key = f"incoming/{OWNER}/{file_id}/upload"
        put(key, data, case.content_type)
        event = parse_body(notification(s3_event(key))).events[0]

        def run() -> str:
            apply(event)
            item = record(OWNER, file_id)
            if item["status"] == "processed":
                return f"processed:{item['metadata']['kind']}"
            return f"failed:{item['error']['code']}"

        return run

    measured = measure(prepare(case.name), traced=False)
    if measured.outcome == case.expected and measured.seconds < case.seconds:
        # Tracing is slow, and only a case that got this far has memory worth measuring.
        measured.peak_bytes = measure(prepare(f"{case.name}-traced"), traced=True).peak_bytes
    budget = case.memory_budget.memory_bytes
    assert budget < WORKER_MEMORY_BYTES
    problems = problems_with(measured, case.expected, seconds=case.seconds, memory_bytes=budget)
    metadata = (record(OWNER, case.name) or {}).get("metadata") or {}
    if not case.metadata.items() <= metadata.items():
        problems.append(f"metadata lacks {case.metadata}")
    LEDGER.add(case.name, measured, problems)
    assert not problems, f"{case.name}: {measured}"


# --- Events ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventCase:
    name: str
    body: Callable[[], str]
    # "acknowledged" or "retried"
    expected: str
    # The object to store first: (key, bytes).
    stored: tuple[str, bytes] | None = None
    # What the event leaves in the table beside the innocent file's record:
    # (ownerId, fileId, filename, status) for each.
    records: tuple[tuple[str, str, str, str], ...] = ()


def event_case(name, body, expected, *, bug: str | None = None, **options):
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(EventCase(name, body, expected, **options), id=name, marks=marks)


def key_case(name, key, *, processed_as: tuple[str, str, str] | None = None, bug: str | None = None):
    """An ObjectCreated event for `key`, stored first: either processed into a
    record (owner, file id, filename) or acknowledged and ignored."""
    return event_case(
        name, lambda: notification(s3_event(key)), "acknowledged", bug=bug, stored=(key, b"some text\n"),
        records=((*processed_as, "processed"),) if processed_as else (),
    )


def record_with(**changes) -> dict:
    """A real-shaped S3 record for a well-formed key, with fields replaced or removed (None)."""
    body = s3_event(f"incoming/{OWNER}/f1/a.txt")
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = body
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return body


def sns_envelope() -> str:
    return json.dumps({"Type": "Notification", "MessageId": "b3f0",
                       "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads", "Subject": "Amazon S3 Notification",
                       "Message": notification(s3_event(f"incoming/{OWNER}/f1/a.txt"))})


def eventbridge_event() -> str:
    return json.dumps({"version": "0", "detail-type": "Object Created", "source": "aws.s3",
                       "detail": {"bucket": {"name": BUCKET}, "object": {"key": f"incoming/{OWNER}/f1/a.txt"}}})


def padded_notification(size: int) -> str:
    """A valid notification grown to `size` bytes by a field the worker ignores."""
    body = s3_event(f"incoming/{OWNER}/f1/a.txt")
    body["responseElements"]["x-amz-id-2"] = "x" * size
    return notification(body)


LONG_NAME = "n" * 900 + ".txt"
EVENT_CASES = [
    # Bodies that are not notifications: retried, then kept in the DLQ.
    event_case("malformed-json", lambda: '{"Records": [{"eventName": ', "retried"),
    event_case("empty-body", lambda: "", "retried"),
    event_case("json-null", lambda: "null", "retried"),
    event_case("json-array", lambda: "[]", "retried"),
    event_case("no-records", lambda: '{"Records": []}', "retried"),
    event_case("record-without-s3", lambda: notification(record_with(s3=None)), "retried"),
    event_case("record-without-event-time", lambda: notification(record_with(eventTime=None)), "retried"),
    event_case("record-with-garbage-event-time", lambda: notification(record_with(eventTime="yesterday")), "retried"),
    event_case("record-without-key", lambda: notification(record_with(s3__object__key=None)), "retried"),
    event_case("record-with-numeric-key", lambda: notification(record_with(s3__object__key=12345)), "retried"),
    event_case("sns-envelope", sns_envelope, "retried"),
    event_case("eventbridge-event", eventbridge_event, "retried"),
    event_case("test-event-with-another-name", lambda: s3_test_event_body().replace("s3:TestEvent", "s3:TestEvent2"),
               "retried"),
    event_case("256-kib-of-nested-arrays", lambda: "[" * (128 * 1024) + "]" * (128 * 1024), "retried"),
    event_case("256-kib-of-junk", lambda: "\u00ff\u0000junk" * (256 * 1024 // 7), "retried"),
    event_case("object-in-another-bucket", lambda: notification(record_with(s3__bucket__name="someone-elses-bucket")),
               "retried"),
    # Bodies that are well-formed but ask for nothing: acknowledged.
    event_case("s3-test-event", s3_test_event_body, "acknowledged"),
    event_case("restore-completed", lambda: notification(record_with(eventName="ObjectRestore:Completed")),
               "acknowledged"),
    event_case("restore-post", lambda: notification(record_with(eventName="ObjectRestore:Post")), "acknowledged"),
    event_case("replication-failed",
               lambda: notification(record_with(eventName="Replication:OperationFailedReplication")), "acknowledged"),
    event_case("tagging", lambda: notification(record_with(eventName="ObjectTagging:Put")), "acknowledged"),
    event_case("a-256-kib-notification", lambda: padded_notification(256 * 1024), "acknowledged",
               stored=(f"incoming/{OWNER}/f1/a.txt", b"hello\n"), records=((OWNER, "f1", "a.txt", "processed"),)),
    event_case("400-records-outside-the-layout",
               lambda: notification(*(s3_event(f"thumbnails/{OWNER}/f{i}.webp") for i in range(400))), "acknowledged"),
    event_case("removal-of-a-file-never-seen",
               lambda: notification(s3_event(f"incoming/{OWNER}/never/a.txt", "ObjectRemoved:Delete")), "acknowledged",
               records=((OWNER, "never", None, "deleted"),)),
    # Keys of every odd shape.
    key_case("key-with-spaces", f"incoming/{OWNER}/f1/my holiday photo.txt",
             processed_as=(OWNER, "f1", "my holiday photo.txt")),
    key_case("key-with-plus-and-percent", f"incoming/{OWNER}/f1/1+1=2 %2F 100%.txt",
             processed_as=(OWNER, "f1", "1+1=2 %2F 100%.txt")),
    key_case("key-with-unicode", f"incoming/{OWNER}/f1/ünïcødé 文件 🙂.txt",
             processed_as=(OWNER, "f1", "ünïcødé 文件 🙂.txt")),
    key_case("key-with-rtl-override", f"incoming/{OWNER}/f1/invoice\u202etxt.exe",
             processed_as=(OWNER, "f1", "invoice\u202etxt.exe")),
    key_case("key-with-control-characters", f"incoming/{OWNER}/f1/a\tb\x01c\x7f.txt",
             processed_as=(OWNER, "f1", "a\tb\x01c\x7f.txt")),
    key_case("key-near-the-1024-byte-limit", f"incoming/{OWNER}/f1/{LONG_NAME}", processed_as=(OWNER, "f1", LONG_NAME)),
    key_case("key-with-extra-segments", f"incoming/{OWNER}/f1/sub/dir/a.txt",
             processed_as=(OWNER, "f1", "sub/dir/a.txt")),
    key_case("key-outside-incoming", f"thumbnails/{OWNER}/f1.webp"),
    key_case("key-in-another-case", f"INCOMING/{OWNER}/f1/a.txt"),
    key_case("key-with-a-leading-slash", f"/incoming/{OWNER}/f1/a.txt"),
    key_case("key-with-one-segment", f"incoming/{OWNER}"),
    key_case("key-with-two-segments", f"incoming/{OWNER}/f1"),
    key_case("key-with-an-empty-filename", f"incoming/{OWNER}/f1/"),
    key_case("key-with-an-empty-owner", "incoming//f1/a.txt"),
    key_case("key-with-a-dot-dot-filename", f"incoming/{OWNER}/f1/.."),
    key_case("key-with-a-dot-filename", f"incoming/{OWNER}/f1/."),
    key_case("key-with-a-dot-dot-owner", "incoming/../f1/a.txt"),
    key_case("key-with-a-dot-dot-file-id", f"incoming/{OWNER}/../a.txt"),
]


def other_records() -> set[tuple]:
    # File records only: the owner's usage item is bookkeeping, not a record.
    items = [item for item in clients.table().scan()["Items"] if "fileId" in item]
    return {(item["ownerId"], item["fileId"], item.get("filename"), item["status"]) for item in items
            if item["ownerId"] != "innocent"}


@pytest.fixture
def empty_table(shared_aws):
    """Each event starts from an empty table: the innocent file is processed
    anew, and whatever else is left there is what the event wrote."""
    table = clients.table()
    for item in table.scan(ProjectionExpression="pk, sk")["Items"]:
        table.delete_item(Key=item)


@pytest.mark.parametrize("case", EVENT_CASES)
def test_a_hostile_event_is_acknowledged_or_retried_and_its_batch_is_processed(empty_table, context, case: EventCase):
    put(INNOCENT_KEY)
    if case.stored:
        put(*case.stored)
    event = sqs_event(case.body(), notification(s3_event(INNOCENT_KEY)))
    hostile_id = event["Records"][0]["messageId"]

    def run() -> str:
        failures = {item["itemIdentifier"] for item in ingest.handler(event, context)["batchItemFailures"]}
        return "retried" if failures == {hostile_id} else "acknowledged" if not failures else f"failed {failures}"

    measured = measure(run, traced=True)
    problems = problems_with(measured, case.expected)
    if (record("innocent", "f-innocent") or {}).get("status") != "processed":
        problems.append("the innocent file in the batch was not processed")
    written = other_records()
    if written != set(case.records):
        problems.append(f"wrote {written or 'nothing'}")
    LEDGER.add(case.name, measured, problems)
    assert not problems, f"{case.name}: {measured}"
