"""Generated fixture files: real ones built with the libraries that write each
format, and hostile ones built by hand."""

from __future__ import annotations

import csv
import io
import struct
import wave
import zipfile
import zlib

from PIL import ExifTags, Image
from pypdf import PdfWriter


def image(fmt: str = "PNG", size=(64, 48), *, mode: str = "RGB", exif: bool = False, gps: bool = False) -> bytes:
    picture = Image.new(mode, size, color="teal" if mode != "1" else 1)
    options = {}
    if exif:
        tags = Image.Exif()
        tags[ExifTags.Base.Make] = "Canon\x00"
        tags[ExifTags.Base.Model] = "EOS R5 "
        tags[ExifTags.Base.Orientation] = 6
        tags.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:17 10:42:00"
        if gps:
            tags.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (48.0, 51.0, 29.1234), 3: "E", 4: (2.0, 17.0, 40.0)})
        options["exif"] = tags
    out = io.BytesIO()
    picture.save(out, format=fmt, **options)
    return out.getvalue()


def animated_gif(frames: int = 3) -> bytes:
    pictures = [Image.new("RGB", (16, 16), color=(40 * i, 0, 0)) for i in range(frames)]
    out = io.BytesIO()
    pictures[0].save(out, format="GIF", save_all=True, append_images=pictures[1:])
    return out.getvalue()


def pdf(pages: int = 3, *, password: str | None = None, metadata: dict | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    writer.add_metadata(
        metadata
        if metadata is not None
        else {
            "/Title": "Quarterly report",
            "/Author": "Ada Lovelace",
            "/Producer": "fixture-writer",
            "/CreationDate": "D:20240517104200+02'00'",
        }
    )
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def archive(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as package:
        for name, data in entries.items():
            package.writestr(name, data)
    return out.getvalue()


def ooxml(main_part: str) -> bytes:
    """The smallest package that names its kind: content types plus the main part."""
    return archive({"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<Relationships/>", main_part: b"<x/>"})


def delimited(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def parquet(table, **options) -> bytes:
    """A Parquet file as pyarrow writes it (`table` a pyarrow Table)."""
    import pyarrow.parquet

    out = io.BytesIO()
    pyarrow.parquet.write_table(table, out, **options)
    return out.getvalue()


def big_parquet(total_bytes: int, row_groups: int = 50) -> bytes:
    """Uncompressed, undictionaried blobs beside a few typed columns: the file
    is as large as its data, the footer at its end."""
    import pyarrow

    rows = row_groups * 4
    blob = bytes(total_bytes // rows)
    table = pyarrow.table({"id": pyarrow.array(range(rows), pyarrow.int64()),
                           "name": pyarrow.array([f"row {i}" for i in range(rows)]),
                           "blob": pyarrow.array([blob] * rows, pyarrow.binary())})
    return parquet(table, compression="none", use_dictionary=False, row_group_size=4, write_statistics=False)


def parquet_footer(footer: bytes, body: bytes = b"") -> bytes:
    """A Parquet file around a footer given as raw Thrift bytes."""
    return b"PAR1" + body + footer + struct.pack("<I", len(footer)) + b"PAR1"


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def parquet_chunk_bomb(chunks: int) -> bytes:
    """A valid Parquet footer, in Thrift's compact protocol by hand, whose one
    row group lists `chunks` empty column chunks: one byte each on the wire,
    one object each once decoded."""
    schema = (b"\x19\x2c"  # 2: schema, a list of 2 structs
              b"\x48\x04root\x15\x02\x00"  # 4: name "root", 5: num_children 1
              b"\x15\x02\x38\x01a\x00")  # 1: type INT32, 4: name "a"
    group = b"\x19\xfc" + varint(chunks) + b"\x00" * chunks + b"\x26\x00\x00"  # 1: columns, 3: num_rows 0
    footer = (b"\x15\x02" + schema  # 1: version 1
              + b"\x16\x00"  # 3: num_rows 0
              + b"\x19\x1c" + group  # 4: row_groups, a list of 1 struct
              + b"\x00")
    return parquet_footer(footer)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 20_000) -> bytes:
    """A real decompression bomb: a 1-bit side x side image of zeros, a few
    hundred kilobytes compressed, `side`² pixels decoded."""
    row = b"\x00" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def zip_bomb(uncompressed: int = 1024 * 1024 * 1024) -> bytes:
    """A real zip bomb: one entry of zeros, deflated about a thousandfold."""
    out = io.BytesIO()
    chunk = b"\x00" * (4 * 1024 * 1024)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        with package.open("zeros.bin", "w", force_zip64=True) as entry:
            for _ in range(uncompressed // len(chunk)):
                entry.write(chunk)
    return out.getvalue()


def overlapping_zip_bomb(entries: int = 50) -> bytes:
    """Fifield's non-recursive bomb, reduced: many central-directory entries
    that all point at the same compressed data."""
    data = zlib.compress(b"\x00" * (1024 * 1024))[2:-4]
    name = b"a"
    local = (struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, 0, len(data), 1024 * 1024, len(name), 0)
             + name + data)
    central = b"".join(
        struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, 0, len(data), 1024 * 1024, len(name),
                    0, 0, 0, 0, 0, 0)
        + name
        for _ in range(entries)
    )
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(central), len(local), 0)
    return local + central + end


def big_pdf(stream_bytes: int) -> bytes:
    """A one-page PDF carrying one large stream, with a correct xref table: the
    metadata sits at both ends, the bulk in between."""
    parts: list[bytes] = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    offsets = []

    def add(body: bytes) -> None:
        offsets.append(sum(map(len, parts)))
        parts.append(b"%d 0 obj\n" % len(offsets) + body + b"\nendobj\n")

    add(b"<< /Type /Catalog /Pages 2 0 R >>")
    add(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    add(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>")
    add(b"<< /Length %d >>\nstream\n" % stream_bytes + bytes(stream_bytes) + b"\nendstream")
    add(b"<< /Title (Big report) /Producer (fixture-writer) >>")
    xref_at = sum(map(len, parts))
    entries = b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    parts.append(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1) + entries)
    parts.append(b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                 % (len(offsets) + 1, xref_at))
    return b"".join(parts)


def big_zip(total_bytes: int, entries: int = 4) -> bytes:
    """Stored (uncompressed) entries: the archive is as large as its content."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as package:
        for i in range(entries):
            package.writestr(f"part{i}.bin", bytes(total_bytes // entries))
    return out.getvalue()


def big_jpeg(total_bytes: int) -> bytes:
    """A real photo followed by appended data, as phones write motion photos."""
    photo = image("JPEG", (640, 480), exif=True)
    return photo + bytes(total_bytes - len(photo))


def zip_claiming(claimed: int, entries: int) -> bytes:
    """Empty, nameless entries whose end record claims `claimed` of them:
    zipfile reads every header in the directory whatever the claim. They share
    one local header, as nothing here reads past the directory."""
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) * entries
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, claimed, claimed, len(central), len(local), 0)
    return local + central + end


def heif(fmt: str = "HEIF", size=(64, 48), *, exif: bool = False, gps: bool = False) -> bytes:
    """A HEIC (libheif's x265 encoder, through pillow-heif) or an AVIF (Pillow's own)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    return image(fmt, size, exif=exif, gps=gps)


def drawn_pdf(size=(400, 200), colour="red") -> bytes:
    """A one-page PDF whose page is a picture of one colour, as Pillow writes it."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PDF")
    return out.getvalue()


def wav(seconds: float = 3.0, rate: int = 8000, channels: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(bytes(int(seconds * rate) * channels * 2))
    return out.getvalue()


def video(fmt: str = "mp4", codec: str = "mpeg4", *, seconds: int = 2, size=(320, 240), rate: int = 25,
          title: str | None = None, created: str | None = None) -> bytes:
    """A video (PyAV's FFmpeg). FFmpeg's MP4 muxer writes `moov` after `mdat`
    unless told otherwise: the index at the end."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        if title:
            container.metadata["title"] = title
        if created:
            container.metadata["creation_time"] = created
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for frame in range(seconds * rate):
            picture = av.VideoFrame.from_image(Image.new("RGB", size, (frame * 5 % 256, 0, 0)))
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def audio(fmt: str, codec: str, *, seconds: int = 2, rate: int = 48000, tags: dict | None = None) -> bytes:
    """Stereo silence, encoded (PyAV's FFmpeg), with `tags` as container metadata."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        container.metadata.update(tags or {})
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        samples = stream.frame_size or 1024
        for start in range(0, seconds * rate, samples):
            frame = av.AudioFrame(format=stream.format.name, layout="stereo", samples=samples)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def moov_at_end(mp4: bytes, padding: int) -> bytes:
    """`mp4` (index at the end) with a `free` box of `padding` bytes before the
    index: as large as needed, with the index still last. Chunk offsets point
    into `mdat`, before the box, so they stay true."""
    at = mp4.index(b"moov") - 4
    return mp4[:at] + struct.pack(">I", padding + 8) + b"free" + bytes(padding) + mp4[at:]


def big_media(fmt: str, size: int) -> tuple[bytes, str]:
    """An audio or video file of about `size` bytes whose headers tell the truth
    about its length, and the type it declares."""
    if fmt == "mp4":
        real = video("mp4", "mpeg4")
        return moov_at_end(real, size - len(real)), "video/mp4"
    if fmt == "wav":
        return wav(seconds=size / (8000 * 4), rate=8000, channels=2), "audio/wav"
    if fmt == "mp3":
        # Frames repeated: a constant-bit-rate stream, as long as the file.
        real = audio("mp3", "libmp3lame", seconds=10)
        return real * (size // len(real)), "audio/mpeg"
    real = audio("flac", "flac", seconds=2)
    return real + bytes(size - len(real)), "audio/flac"
