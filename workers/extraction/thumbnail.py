"""Thumbnails: a small WebP rendered per image, stored by the worker beside the upload.

Unlike the extractors, this decodes pixels, so it reads the whole object; it
runs only below a pixel and a byte limit, and its reads are counted apart.
JPEGs decode at a reduced scale (`draft`), which keeps their memory small.
"""

from __future__ import annotations

import io

from workers.extraction.kinds.image import FORMATS, pillow

MAX_PIXELS = 24_000_000
MAX_BYTES = 32 * 1024 * 1024  # thumbnails read the whole object
SIZE = (256, 256)
QUALITY = 75
CONTENT_TYPE = "image/webp"


def wanted(metadata: dict, size: int) -> bool:
    return metadata["width"] * metadata["height"] <= MAX_PIXELS and size <= MAX_BYTES


def render(stream: io.BufferedIOBase) -> bytes:
    from PIL import ImageOps

    image = pillow().open(stream, formats=FORMATS)
    image.draft("RGB", SIZE)
    # Camera photos are stored sideways with an orientation tag; show them upright.
    image = ImageOps.exif_transpose(image)
    image.thumbnail(SIZE)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=QUALITY)
    return out.getvalue()
