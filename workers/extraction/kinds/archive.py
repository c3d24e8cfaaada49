"""ZIP archives and the OOXML documents built on them, judged from the central
directory alone: nothing is ever decompressed.

The end-of-central-directory record is read first, so the directory's size is
known and capped before zipfile loads it into memory. The entry count the
record claims is not trusted: zipfile parses every header in the directory
whatever the claim, so the headers are counted, and capped, first.
"""

from __future__ import annotations

import io
import struct
import zipfile

from workers.errors import FileRejected
from workers.extraction.limits import Deadline
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Magic

MiB = 1024 * 1024
# Archives are judged from the central directory alone, never extracted.
MAX_ENTRIES = 100_000
MAX_CENTRAL_DIRECTORY_BYTES = 16 * MiB
MAX_UNCOMPRESSED_BYTES = 20 * 1024 * MiB
MAX_RATIO = 200
# Below this many uncompressed bytes a high ratio is harmless (a small file of zeros).
RATIO_FLOOR_BYTES = 100 * MiB

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
# A central-directory header: the fixed part, then name, extra field and comment.
_CENTRAL_HEADER = struct.Struct("<4s24x3H12x")
_CENTRAL_SIGNATURE = b"PK\x01\x02"
# Headers walked between two checks of the deadline.
_HEADERS_PER_STEP = 10_000
_MAX_COMMENT = 0xFFFF
# The part that names an OOXML package's kind, and the kind it names.
_OOXML = (
    ("word/document.xml", "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xl/workbook.xml", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("ppt/presentation.xml", "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)


# Office documents are zips; the central directory tells which.
@extractor("zip", "docx", "xlsx", "pptx", signatures=(
    Magic("application/zip", {0: b"PK\x03\x04"}),
    Magic("application/zip", {0: b"PK\x05\x06"}),
))
def describe(source: Source) -> dict:
    directory_bytes, directory_end = _directory_size(source.stream, source.size)
    if directory_bytes > MAX_CENTRAL_DIRECTORY_BYTES:
        raise FileRejected("too_large", f"A {directory_bytes}-byte central directory is over the limit")
    source.stream.seek(directory_end - directory_bytes)
    entries = _count_entries(source.stream.read(directory_bytes), source.deadline)
    if entries > MAX_ENTRIES:
        raise FileRejected("archive_bomb", f"{entries} entries is over the {MAX_ENTRIES}-entry limit")
    source.stream.seek(0)
    infos = zipfile.ZipFile(source.stream).infolist()
    source.deadline.check()
    uncompressed = sum(info.file_size for info in infos)
    compressed = sum(info.compress_size for info in infos)
    ratio = round(uncompressed / compressed, 2) if compressed else 1.0
    _reject_bomb(uncompressed, compressed, ratio, source.size)
    names = {info.filename for info in infos}
    metadata = {"entries": len(infos), "uncompressedSize": uncompressed, "compressionRatio": ratio}
    if "[Content_Types].xml" in names:
        for part, kind, mime in _OOXML:
            if part in names:
                return {**metadata, "kind": kind, "sniffedType": mime}
    return metadata


def _reject_bomb(uncompressed: int, compressed: int, ratio: float, archive_size: int) -> None:
    if uncompressed > MAX_UNCOMPRESSED_BYTES:
        raise FileRejected("archive_bomb",
                           f"Expands to {uncompressed} bytes, over the {MAX_UNCOMPRESSED_BYTES}-byte limit")
    if uncompressed > RATIO_FLOOR_BYTES and ratio > MAX_RATIO:
        raise FileRejected("archive_bomb", f"Compression ratio {ratio:g} is over the limit of {MAX_RATIO}")
    # Entries that share their compressed bytes (the overlapping-file bomb)
    # claim more compressed data than the archive holds.
    if compressed > archive_size:
        raise FileRejected("archive_bomb", "Entries overlap: they claim more compressed bytes than the archive holds")


def _count_entries(directory: bytes, deadline: Deadline) -> int:
    """The headers in the central directory, counted the way zipfile reads
    them. A count that disagrees with the end record's claim is not itself
    refused: writers without zip64 store the count modulo 65536, and every
    reader ignores it; only the real count is capped."""
    entries = at = 0
    while at < len(directory):
        if entries % _HEADERS_PER_STEP == 0:
            deadline.check()
        if len(directory) - at < _CENTRAL_HEADER.size:
            raise FileRejected("corrupt", "The central directory ends inside a header")
        signature, name, extra, comment = _CENTRAL_HEADER.unpack_from(directory, at)
        if signature != _CENTRAL_SIGNATURE:
            raise FileRejected("corrupt", "The central directory holds something other than file headers")
        at += _CENTRAL_HEADER.size + name + extra + comment
        entries += 1
    return entries


def _directory_size(stream: io.BufferedIOBase, size: int) -> tuple[int, int]:
    """(central directory bytes, where the directory ends) from the end records,
    zip64 included. Like zipfile, the directory is taken to end where the end
    records begin, so data prepended to the archive does not move it."""
    tail_start = max(0, size - _EOCD.size - _MAX_COMMENT)
    stream.seek(tail_start)
    tail = stream.read(size - tail_start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise FileRejected("corrupt", "No end-of-central-directory record: the archive is truncated or not a ZIP")
    _, _, _, _, _, directory_bytes, _, _ = _EOCD.unpack_from(tail, at)
    directory_end = tail_start + at
    locator_at = at - _EOCD64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        _, _, eocd64_offset, _ = _EOCD64_LOCATOR.unpack_from(tail, locator_at)
        stream.seek(eocd64_offset)
        record = stream.read(_EOCD64.size)
        if len(record) < _EOCD64.size or record[:4] != b"PK\x06\x06":
            raise FileRejected("corrupt", "The zip64 end record is missing or damaged")
        fields = _EOCD64.unpack(record)
        directory_bytes, directory_end = fields[8], eocd64_offset
    return directory_bytes, directory_end
