"""Thumbnails: a small WebP rendered per image, stored by the worker beside the upload.

Unlike the extractors, this decodes pixels, so it reads the whole object; it
runs only below a pixel and a byte limit, and its reads are counted apart.
JPEGs decode at a reduced scale (`draft`), which keeps their memory small.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from workers import settings
from workers.extractors.image import FORMATS


def wanted(metadata: dict, size: int) -> bool:
    return metadata["width"] * metadata["height"] <= settings.THUMBNAIL_MAX_PIXELS and size <= settings.THUMBNAIL_MAX_BYTES


def render(stream: io.BufferedIOBase) -> bytes:
    image = Image.open(stream, formats=FORMATS)
    image.draft("RGB", settings.THUMBNAIL_SIZE)
    # Camera photos are stored sideways with an orientation tag; show them upright.
    image = ImageOps.exif_transpose(image)
    image.thumbnail(settings.THUMBNAIL_SIZE)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=settings.THUMBNAIL_QUALITY)
    return out.getvalue()
