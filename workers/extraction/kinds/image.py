"""Images: format, size, mode, frame count and a few EXIF facts, from the header.

`Image.open` parses only the header; no pixel is decoded here. GPS coordinates
are personal data: only whether they exist is reported.
"""

from __future__ import annotations

import warnings

from PIL import ExifTags, Image

from workers.errors import FileRejected
from workers.extraction.registry import Source, extractor

# Pillow's decompression-bomb guard, as an error rather than a warning.
MAX_PIXELS = 200_000_000

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "TIFF")
_MAX_TEXT_CHARS = 128

# Pillow refuses at twice this (DecompressionBombError) and only warns at once
# this; the explicit check below makes both the same error, so the warning is noise.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@extractor("image")
def describe(source: Source) -> dict:
    try:
        image = Image.open(source.stream, formats=FORMATS)
    except Image.DecompressionBombError as error:
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


def _exif(image: Image.Image) -> dict:
    exif = image.getexif()
    details = exif.get_ifd(ExifTags.IFD.Exif)
    return {
        "make": _text(exif.get(ExifTags.Base.Make)),
        "model": _text(exif.get(ExifTags.Base.Model)),
        "dateTimeOriginal": _text(details.get(ExifTags.Base.DateTimeOriginal)),
        "orientation": exif.get(ExifTags.Base.Orientation) if isinstance(exif.get(ExifTags.Base.Orientation), int) else None,
        "hasGps": bool(exif.get_ifd(ExifTags.IFD.GPSInfo)),
    }


def _text(value) -> str | None:
    """Camera firmware pads with NULs and spaces, and some writes bytes."""
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "").strip()[:_MAX_TEXT_CHARS] or None
