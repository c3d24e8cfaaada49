"""Hostile files, built in memory: damaged, disguised, polyglot and bomb-shaped
inputs for the ingest worker. Big inputs are cheap to make (zeros, repetition,
deflated zeros), so the corpus stays fast to run."""

from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import Image

from tests.extractors import files

MiB = 1024 * 1024


def cut(data: bytes, share: float = 0.5) -> bytes:
    """The first `share` of a file, as an interrupted upload leaves it."""
    return data[: int(len(data) * share)]


@functools.cache
def photo(fmt: str) -> bytes:
    """A real picture big enough that its pixel data spans many blocks or chunks."""
    return files.image(fmt, (320, 240))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header promises width x height pixels and holds none."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + files.png_chunk(b"IHDR", header) + files.png_chunk(b"IEND", b"")


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF whose screen and only frame claim width x height, with one pixel of data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real JPEG with its frame header (SOF0) rewritten to claim width x height."""
    data = bytearray(photo("JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def webp_canvas_without_frames(width: int, height: int) -> bytes:
    """An extended WebP (VP8X) whose canvas claims width x height, and no image."""
    vp8x = (b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
            + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def webp_declaring(width: int, height: int) -> bytes:
    """A real lossless WebP whose VP8L header is rewritten to claim width x height."""
    out = io.BytesIO()
    Image.new("RGB", (1, 1)).save(out, format="WEBP", lossless=True)
    data = bytearray(out.getvalue())
    # After the chunk header and the 0x2f signature: 14 bits width-1, 14 bits height-1.
    at = data.index(b"VP8L") + 8 + 1
    bits = int.from_bytes(data[at : at + 4], "little")
    bits = (bits & ~0xFFFFFFF) | (width - 1) | ((height - 1) << 14)
    data[at : at + 4] = bits.to_bytes(4, "little")
    return bytes(data)


def tiff_declaring(width: int, height: int, *, next_ifd: int = 0) -> bytes:
    """A little-endian TIFF with one IFD claiming width x height 8-bit grey pixels
    in a single strip. `next_ifd` = 8 makes the IFD chain loop onto itself."""
    tags = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 8 + 4),  # StripOffsets: just past the IFD
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts
    ]
    ifd = (struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *tag) for tag in tags)
           + struct.pack("<I", next_ifd))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(16)


def png_filled(width: int, height: int) -> bytes:
    """A real RGB PNG of black pixels: small on disk, width x height x 4 bytes decoded."""
    row = bytes(1 + 3 * width)
    compressor = zlib.compressobj(1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + files.png_chunk(b"IHDR", header) + files.png_chunk(b"IDAT", body)
            + files.png_chunk(b"IEND", b""))


def many_frame_gif(frames: int) -> bytes:
    """A 1x1 GIF with thousands of frames: tiny on disk, long to walk."""
    frame = (b"\x21\xf9\x04\x00\x01\x00\x00\x00" + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
             + b"\x02\x02\x44\x01\x00")
    return b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff" + frame * frames + b"\x3b"


# --- PDF ---------------------------------------------------------------------


def pdf_of(objects: list[bytes], *, info: int | None = None) -> bytes:
    """A PDF whose numbered objects are `objects` (1 is the catalog), with a
    correct xref table, so the only hostility is in the objects themselves."""
    parts = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(sum(map(len, parts)))
        parts.append(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref_at = sum(map(len, parts))
    parts.append(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
                 + b"".join(b"%010d 00000 n \n" % at for at in offsets))
    extra = b" /Info %d 0 R" % info if info else b""
    parts.append(b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n"
                 % (len(objects) + 1, extra, xref_at))
    return b"".join(parts)


_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def pdf_nested_title(depth: int) -> bytes:
    """The document title is an array nested `depth` deep."""
    return pdf_of([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", _PAGE,
                   b"<< /Title " + b"[" * depth + b"]" * depth + b" >>"], info=4)


def pdf_nested_dictionaries(depth: int) -> bytes:
    return pdf_of([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", _PAGE,
                   b"<< /Title " + b"<< /A " * depth + b">> " * depth + b" >>"], info=4)


def pdf_page_count(count: int) -> bytes:
    """A page tree that claims `count` pages and holds one."""
    return pdf_of([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count, _PAGE])


def pdf_recursive_kids() -> bytes:
    """A page tree node that is its own child, with no /Count to trust."""
    return pdf_of([_CATALOG, b"<< /Type /Pages /Kids [2 0 R 3 0 R] >>", _PAGE])


def deflated_zeros(size: int, prefix: bytes = b"") -> bytes:
    """`prefix` and `size` zero bytes, deflated (a zlib stream, as /FlateDecode wants)."""
    compressor = zlib.compressobj(9)
    chunk = bytes(4 * MiB)
    return (compressor.compress(prefix) + b"".join(compressor.compress(chunk) for _ in range(size // len(chunk)))
            + compressor.flush())


def pdf_flate_bomb_content(size: int) -> bytes:
    """The page's content stream inflates to `size` bytes."""
    bomb = deflated_zeros(size)
    return pdf_of([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                   b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
                   b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb + b"\nendstream"])


def pdf_image_declaring(width: int, height: int) -> bytes:
    """The page draws an image XObject that declares `width` x `height` pixels."""
    pixels = deflated_zeros(1024)
    return pdf_of([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                   b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R"
                   b" /Resources << /XObject << /Im0 4 0 R >> >> >>",
                   b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
                   b" /BitsPerComponent 8 /Length %d /Filter /FlateDecode >>\nstream\n" % (width, height, len(pixels))
                   + pixels + b"\nendstream",
                   b"<< /Length 32 >>\nstream\nq 612 0 0 792 0 0 cm /Im0 Do Q   \nendstream"])


def pdf_nested_form_flate_bomb(size: int) -> bytes:
    """The page draws a form that draws a form whose content inflates to `size` bytes."""
    bomb = deflated_zeros(size)
    form = b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792]"
    return pdf_of([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                   b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 6 0 R"
                   b" /Resources << /XObject << /Fm0 4 0 R >> >> >>",
                   form + b" /Resources << /XObject << /Fm1 5 0 R >> >> /Length 8 >>\nstream\n/Fm1 Do\nendstream",
                   form + b" /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb + b"\nendstream",
                   b"<< /Length 8 >>\nstream\n/Fm0 Do\nendstream"])


def pdf_flate_bomb_object_stream(size: int) -> bytes:
    """The page tree lives in a compressed object stream that inflates to
    `size` bytes: pypdf must inflate it to find the page count."""
    inner = b"2 0 << /Type /Pages /Kids [] /Count 0 >>"
    bomb = deflated_zeros(size, inner)
    stream = (b"<< /Type /ObjStm /N 1 /First 4 /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb)
              + bomb + b"\nendstream")
    head = b"%PDF-1.7\n"
    catalog = b"1 0 obj\n" + _CATALOG + b"\nendobj\n"
    objstm = b"3 0 obj\n" + stream + b"\nendobj\n"
    xref_at = len(head) + len(catalog) + len(objstm)
    rows = [(0, 0, 65535), (1, len(head), 0), (2, 3, 0), (1, len(head) + len(catalog), 0), (1, xref_at, 0)]
    table = b"".join(struct.pack(">BIH", *row) for row in rows)
    xref = (b"4 0 obj\n<< /Type /XRef /Size 5 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(table)
            + table + b"\nendstream\nendobj\n")
    return head + catalog + objstm + xref + b"startxref\n%d\n%%%%EOF\n" % xref_at


# --- ZIP and OOXML --------------------------------------------------------------


def _central_entry(name: bytes, compressed: int, uncompressed: int, offset: int = 0) -> bytes:
    return struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, 0, compressed, uncompressed,
                       len(name), 0, 0, 0, 0, 0, offset) + name


def _end(entries: int, directory: bytes, directory_at: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(directory), directory_at, 0)


# Every archive below starts with one empty entry's local header, as real ZIPs do,
# so sniffing takes it for a ZIP and the central directory decides the rest.
_LOCAL = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"


def empty_entries(count: int) -> bytes:
    """A central directory of `count` empty files, all pointing at the one local header."""
    return b"".join(_central_entry(b"%06d" % i, 0, 0) for i in range(count))


def zip_understating_entries(entries: int) -> bytes:
    """`entries` empty files whose end record counts one."""
    directory = empty_entries(entries)
    return _LOCAL + directory + _end(1, directory, len(_LOCAL))


def zip64_of(directory: bytes, entries: int, *, directory_bytes: int | None = None,
             record_at: int | None = None) -> bytes:
    """`directory` closed by zip64 end records claiming `entries` and
    `directory_bytes`; `record_at` points the locator elsewhere."""
    claimed = len(directory) if directory_bytes is None else directory_bytes
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, claimed, len(_LOCAL))
    at = len(_LOCAL) + len(directory) if record_at is None else record_at
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return _LOCAL + directory + record + locator + end


def zip_claiming(uncompressed: int, compressed: int = 1000) -> bytes:
    """One entry whose directory claims `uncompressed` bytes from `compressed`."""
    data = bytes(compressed)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, 0, compressed, uncompressed, 1, 0) + b"a" + data
    directory = _central_entry(b"a", compressed, uncompressed)
    return local + directory + _end(1, directory, len(local))


def zip_directory_larger_than_the_file() -> bytes:
    """An end record whose central directory would start before the file does."""
    data = bytearray(files.archive({"a.txt": b"hello"}))
    struct.pack_into("<L", data, data.rindex(b"PK\x05\x06") + 12, MiB)
    return bytes(data)


def nested_zip() -> bytes:
    """42.zip in miniature: archives of archives; only the outer one is read."""
    inner = files.archive({"zeros.bin": bytes(MiB)})
    return files.archive({f"layer{i}.zip": inner for i in range(16)})


def billion_laughs(levels: int = 9) -> bytes:
    """The classic XML entity expansion: ten to the `levels` copies of "lol"."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">' for i in range(1, levels + 1)
    ]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{"".join(entities)}]>\n<lolz>&lol{levels};</lolz>').encode()


def ooxml_with_laughs(main_part: str) -> bytes:
    return files.archive({"[Content_Types].xml": billion_laughs(), "_rels/.rels": billion_laughs(),
                          main_part: billion_laughs()})


# --- Text formats ------------------------------------------------------------------


def deep_json(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def wide_json(keys: int) -> bytes:
    return b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(keys)) + b"}"


def csv_unterminated_quote(size: int) -> bytes:
    return b'id,note\n1,plain\n2,"' + b"x" * size


def csv_one_row(size: int) -> bytes:
    return b"ab," * (size // 3)


def csv_mixed_delimiters(rows: int) -> bytes:
    line = b"a,b;c\td|e\n1;2,3|4\t5\n"
    return line * (rows // 2)


def csv_with_nul_past_the_sniff_window() -> bytes:
    rows = b"".join(b"%d,name %d,%d\n" % (i, i, i * 7) for i in range(20_000))
    return b"id,name,value\n" + rows + b"20000,\x00\x00\x00,0\n"


def exe() -> bytes:
    """A DOS/PE stub: the MZ header and the PE signature it points at."""
    return b"MZ" + bytes(58) + struct.pack("<I", 64) + b"PE\x00\x00" + bytes(512)


SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.domain)</script></body></html>"


def zip_then_pdf() -> bytes:
    """Starts as a ZIP, ends with a whole PDF: the end record search must still find the archive."""
    return files.archive({"readme.txt": b"hello"}) + files.pdf(1)


def pdf_then_zip() -> bytes:
    """A PDF followed by a whole ZIP: a valid archive to unzip tools, a PDF to sniffing."""
    return files.pdf(1) + files.archive({"readme.txt": b"hello"})


def gifar() -> bytes:
    """A GIF with a Java archive appended (GIFAR)."""
    return files.image("GIF", (16, 16)) + files.archive({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
                                                         "Evil.class": b"\xca\xfe\xba\xbe"})


# An `ftyp` box naming HEIC as its major brand, and nothing after it.
HEIC_BRAND = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"


def heif_declaring(fmt: str, width: int, height: int) -> bytes:
    """A real HEIC or AVIF whose `ispe` box (ISO/IEC 23008-12) declares another size."""
    real = files.heif(fmt)
    at = real.find(b"ispe") + 8
    return real[:at] + struct.pack(">II", width, height) + real[at + 8:]


def mp4_moov_claiming_4_gib() -> bytes:
    """A real MP4 whose `moov` box claims 4 GiB: past the end of the file."""
    real = files.video("mp4", "mpeg4")
    at = real.index(b"moov") - 4
    return real[:at] + b"\xff\xff\xff\xff" + real[at + 4:]


def parquet_file() -> bytes:
    import pyarrow

    return files.parquet(pyarrow.table({"id": list(range(100)), "name": [f"n{i}" for i in range(100)]}))


def parquet_footer_length(data: bytes, length: int) -> bytes:
    """A Parquet file whose trailer claims a footer of `length` bytes."""
    return data[:-8] + struct.pack("<I", length) + b"PAR1"


def parquet_nested_thrift(depth: int) -> bytes:
    """A footer holding an unknown struct field (id 100) inside itself."""
    return files.parquet_footer(b"\x0c\xc8\x01" * depth + b"\x00" * (depth + 1))


def parquet_claiming_list() -> bytes:
    """A footer whose schema list claims 2^31 structs in five bytes."""
    return files.parquet_footer(b"\x15\x02\x19\xfc\x80\x80\x80\x80\x08")


def parquet_schema_of_leaves(leaves: int) -> bytes:
    """A footer whose root holds `leaves` nameless, typeless leaves: three
    bytes each on the wire."""
    root = b"\x48\x01r\x15" + files.varint(leaves * 2) + b"\x00"  # 4: name "r", 5: num_children
    schema = b"\x19\xfc" + files.varint(leaves + 1) + root + b"\x48\x00\x00" * leaves
    return files.parquet_footer(b"\x15\x02" + schema + b"\x16\x00\x19\x0c\x00")  # no row groups
