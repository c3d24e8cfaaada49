"""Images: format, size, mode, frame count and a few EXIF facts, from the
header, and a thumbnail.

`Image.open` parses only the header; no pixel is decoded to describe an image.
GPS coordinates are personal data: only whether they exist is reported.
The thumbnail decodes pixels, so it is drawn only below a pixel and a byte
limit; JPEGs decode at a reduced scale (`draft`), which keeps their memory
small.
"""

from __future__ import annotations

import functools
import io
import warnings
from typing import TYPE_CHECKING

from workers.errors import FileRejected
from workers.extraction import thumbnail
from workers.extraction.limits import ExtractBudget, MiB
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Magic

# Pillow's decompression-bomb guard, as an error rather than a warning.
MAX_PIXELS = 200_000_000

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "TIFF")
_MAX_TEXT_CHARS = 128
THUMBNAIL_MAX_PIXELS = 24_000_000
THUMBNAIL_MAX_BYTES = 32 * MiB  # thumbnails read the whole object

# Pillow refuses at twice MAX_PIXELS (DecompressionBombError) and only warns at
# once it (DecompressionBombWarning); the explicit check below makes both the
# same error, so the warning is noise.
warnings.filterwarnings("ignore", message=r"Image size \(", module="PIL.Image")

if TYPE_CHECKING:
    from PIL import Image


@functools.cache
def pillow():
    """Pillow's Image module, imported on first use and configured once."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image


# RIFF header, first chunk header, and the chunk's bytes that hold the size.
_WEBP_HEAD = 30


def wants_thumbnail(metadata: dict, size: int) -> bool:
    return metadata["width"] * metadata["height"] <= THUMBNAIL_MAX_PIXELS and size <= THUMBNAIL_MAX_BYTES


def render(stream: io.BufferedIOBase, formats: tuple[str, ...] = FORMATS) -> bytes:
    from PIL import ImageOps

    image = pillow().open(stream, formats=formats)
    image.draft("RGB", thumbnail.SIZE)
    # Camera photos are stored sideways with an orientation tag; show them upright.
    image = ImageOps.exif_transpose(image)
    image.thumbnail(thumbnail.SIZE)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=thumbnail.QUALITY)
    return out.getvalue()


@extractor(
    "image",
    signatures=(
        Magic("image/png", {0: b"\x89PNG\r\n\x1a\n"}),
        Magic("image/jpeg", {0: b"\xff\xd8\xff"}),
        Magic("image/gif", {0: b"GIF87a"}),
        Magic("image/gif", {0: b"GIF89a"}),
        Magic("image/webp", {0: b"RIFF", 8: b"WEBP"}),
        Magic("image/tiff", {0: b"II*\x00"}),
        Magic("image/tiff", {0: b"MM\x00*"}),
    ),
    # Decoding a thumbnail holds the whole bitmap.
    budget=ExtractBudget(fetch_bytes=48 * MiB, memory_bytes=192 * MiB),
    thumbnail=thumbnail.Thumbnail(wanted=wants_thumbnail, render=render, max_bytes=THUMBNAIL_MAX_BYTES),
    library=pillow,
)
def describe(source: Source) -> dict:
    _refuse_a_declared_bomb(source.stream.peek(_WEBP_HEAD)[:_WEBP_HEAD])
    return describe_as(source, FORMATS)


def describe_as(source: Source, formats: tuple[str, ...]) -> dict:
    """An image of one of Pillow's `formats`, under the pixel-bomb rules."""
    pil = pillow()
    try:
        image = pil.open(source.stream, formats=formats)
    except pil.DecompressionBombError as error:
        raise FileRejected("image_bomb", str(error)) from error
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise FileRejected(
            "image_bomb", f"{width}x{height} is over the {MAX_PIXELS}-pixel limit"
        )
    return {
        "format": image.format,
        "width": width,
        "height": height,
        "mode": image.mode,
        # GIF counts frames by walking them: bounded by the file and the deadline.
        "frames": getattr(image, "n_frames", 1),
        "exif": _exif(image),
    }


def _refuse_a_declared_bomb(head: bytes) -> None:
    """A WebP declares its size up front, and Pillow's decoder allocates the
    canvas before any size check; under the worker's memory limit that fails
    as an unreadable file rather than as what it is."""
    size = _webp_size(head)
    if size and size[0] * size[1] > MAX_PIXELS:
        raise FileRejected("image_bomb", f"{size[0]}x{size[1]} is over the {MAX_PIXELS}-pixel limit")


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first chunk of a WebP (RFC 9649), if it is one."""
    if len(head) < _WEBP_HEAD or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk, data = head[12:16], head[20:]
    if chunk == b"VP8X":
        return int.from_bytes(data[4:7], "little") + 1, int.from_bytes(data[7:10], "little") + 1
    if chunk == b"VP8L" and data[0] == 0x2F:
        bits = int.from_bytes(data[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[3:6] == b"\x9d\x01\x2a":
        return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF
    return None


def _exif(image: Image.Image) -> dict:
    from PIL import ExifTags

    exif = _png_exif(image) if image.format == "PNG" else image.getexif()
    details = exif.get_ifd(ExifTags.IFD.Exif)
    # pillow-heif sets a HEIF's EXIF orientation to 1, since HEIF rotates by
    # its own `irot` box, and keeps what the camera wrote here.
    orientation = image.info.get("original_orientation", exif.get(ExifTags.Base.Orientation))
    return {
        "make": _text(exif.get(ExifTags.Base.Make)),
        "model": _text(exif.get(ExifTags.Base.Model)),
        "dateTimeOriginal": _text(details.get(ExifTags.Base.DateTimeOriginal)),
        "orientation": orientation if isinstance(orientation, int) else None,
        "hasGps": bool(exif.get_ifd(ExifTags.IFD.GPSInfo)),
    }


def _png_exif(image: Image.Image) -> Image.Exif:
    """A PNG's eXIf chunk, if it comes before the pixels. Pillow's getexif()
    decodes every pixel to look for one after them: 400 MB for a 1 MB file."""
    exif = pillow().Exif()
    if image.info.get("exif"):
        exif.load(image.info["exif"])
    return exif


def _text(value) -> str | None:
    """Camera firmware pads with NULs and spaces, and some writes bytes."""
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "").strip()[:_MAX_TEXT_CHARS] or None
