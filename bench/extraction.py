"""Extraction figures, over HTTP against the local stack's S3 with the
worker's own reader: bytes fetched from a large object of each kind against a
baseline that downloads it whole, and time per file for typical files, with
CPU time beside wall time."""

from __future__ import annotations

import io
import time
import zipfile

from bench import harness
from tests.extractors import files

# Where a format allows a 200 MB object to be described from a few blocks, the
# goal is 1 MiB; streamed kinds count up to their scan limit and extrapolate.
RANGED_GOAL_BYTES = harness.MiB


def _large(kind: str, size: int) -> tuple[bytes, str]:
    line = b"2026-11-23,alpha,beta,12345,67.89\n"
    return {
        "pdf": lambda: (files.big_pdf(size), "application/pdf"),
        "zip": lambda: (files.big_zip(size), "application/zip"),
        "image": lambda: (files.big_jpeg(size), "image/jpeg"),
        "csv": lambda: (b"day,first,second,count,value\n" + line * (size // len(line)), "text/csv"),
        "json": lambda: (b"[" + b",".join([b'{"n": 12345, "name": "alpha"}'] * (size // 29)) + b"]",
                         "application/json"),
        "text": lambda: (b"plain words in a long log\n" * (size // 26), "text/plain"),
        # The MP4's index is at its end, past the 200 MB.
        "video_moov_at_end": lambda: files.big_media("mp4", size),
        "wav": lambda: files.big_media("wav", size),
        "mp3": lambda: files.big_media("mp3", size),
        "flac": lambda: files.big_media("flac", size),
        "parquet": lambda: (files.big_parquet(size), "application/vnd.apache.parquet"),
        "jsonl": lambda: (b'{"n": 12345, "name": "alpha"}\n' * (size // 30), "application/x-ndjson"),
    }[kind]()


def _typical(sizes: harness.Sizes) -> dict[str, tuple[bytes, str]]:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as package:
        for i in range(sizes.zip_entries):
            package.writestr(f"docs/file-{i}.txt", f"entry {i}\n" * 20)
    line = b"2026-11-23,alpha,beta,12345,67.89\n"
    return {
        f"jpeg_{sizes.jpeg_pixels[0] * sizes.jpeg_pixels[1] // 1_000_000}mp": (
            files.image("JPEG", sizes.jpeg_pixels, exif=True), "image/jpeg"),
        f"pdf_{sizes.pdf_pages}_pages": (files.pdf(pages=sizes.pdf_pages), "application/pdf"),
        f"csv_{sizes.csv_bytes // harness.MiB or 1}mb": (line * (sizes.csv_bytes // len(line)), "text/csv"),
        f"zip_{sizes.zip_entries}_entries": (archive.getvalue(), "application/zip"),
        "heic_1024x768": (files.heif("HEIF", (1024, 768), exif=True), "image/heic"),
        "avif_1024x768": (files.heif("AVIF", (1024, 768), exif=True), "image/avif"),
        "pdf_first_page_preview": (files.drawn_pdf((612, 792)), "application/pdf"),
        "mp4_2s_320x240": (files.video("mp4", "mpeg4"), "video/mp4"),
        "mp3_10s": (files.audio("mp3", "libmp3lame", seconds=10), "audio/mpeg"),
        f"parquet_{sizes.parquet_columns}_columns": (_parquet(sizes.parquet_columns), "application/vnd.apache.parquet"),
    }


def _parquet(columns: int) -> bytes:
    """A table as exported from a warehouse: typed columns, ten row groups."""
    import pyarrow

    rows = 100_000
    table = pyarrow.table({f"c{i}": pyarrow.array(range(rows), pyarrow.int64()) if i % 2
                           else pyarrow.array([f"v{j % 100}" for j in range(rows)]) for i in range(columns)})
    return files.parquet(table, row_group_size=rows // 10)


def run(sizes: harness.Sizes) -> dict:
    from tests.invocation import extract
    from workers.extraction import StoredObject, reader
    from workers.extraction.registry import STREAM_SCAN_LIMIT_BYTES
    from workers.storage import clients, objects

    def stored(s3, bucket: str, key: str, body: bytes, content_type: str) -> StoredObject:
        # Described as the worker describes it: one ranged GET, whose first block the readers start from.
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        head, first_bytes = objects.head_and_first_bytes(s3, bucket, key, None, reader.BLOCK_SIZE)
        return StoredObject(bucket, key, head.get("VersionId"), head["ContentLength"], content_type,
                            head["ETag"].strip('"'), first_bytes)

    with harness.stack() as stack:
        s3, bucket = clients.s3(), stack.bucket
        reads = {}
        for kind in ("pdf", "zip", "image", "parquet", "csv", "json", "jsonl", "text", "video_moov_at_end", "wav",
                     "mp3", "flac"):
            # Outside incoming/: no notification, nothing else reads it.
            obj = stored(s3, bucket, f"bench/large.{kind}", *_large(kind, sizes.object_bytes))
            extraction = extract(obj)
            fetched = extraction.reads.bytes_fetched + (extraction.thumbnail_reads.bytes_fetched
                                                        if extraction.thumbnail_reads else 0)
            # Streamed kinds have no byte goal: they report how far they scan.
            streamed = kind in ("csv", "json", "jsonl", "text")
            reads[kind] = harness.figure(
                fetched, f"reported: scans to {STREAM_SCAN_LIMIT_BYTES // harness.MiB} MiB, then extrapolates"
                if streamed else f"<= {RANGED_GOAL_BYTES // harness.MiB} MiB",
                None if streamed else fetched <= RANGED_GOAL_BYTES, baseline=obj.size, object_bytes=obj.size,
                scan_limit_bytes=STREAM_SCAN_LIMIT_BYTES if streamed else None, requests=extraction.reads.requests,
                fetched_over_size=round(fetched / obj.size, 5), baseline_requests=1,
                estimated=any(key.endswith("Estimated") and value for key, value in extraction.metadata.items()))
            s3.delete_object(Bucket=bucket, Key=obj.key)

        speed = {}
        for name, (body, content_type) in _typical(sizes).items():
            obj = stored(s3, bucket, f"bench/typical-{name}", body, content_type)
            extract(obj)  # warm: the kind's library
            wall, cpu = time.perf_counter(), time.process_time()
            extraction = extract(obj)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            # The anchor: the same object read whole, as a worker without ranged reads would.
            whole = time.perf_counter()
            s3.get_object(Bucket=bucket, Key=obj.key)["Body"].read()
            whole = time.perf_counter() - whole
            passes = [extraction.reads] + ([extraction.thumbnail_reads] if extraction.thumbnail_reads else [])
            speed[name] = harness.figure(round(wall * 1000, 1), "trend (ms per file; budget 4800)", None,
                                         cpu_ms=round(cpu * 1000, 1), object_bytes=len(body),
                                         get_requests=sum(read.requests for read in passes),
                                         bytes_fetched=sum(read.bytes_fetched for read in passes),
                                         thumbnail_bytes=len(extraction.thumbnail or b""),
                                         whole_read_ms=round(whole * 1000, 1))
    return {f"read_amplification_{kind}": value for kind, value in reads.items()} | {
        f"extraction_ms_{name}": value for name, value in speed.items()}
