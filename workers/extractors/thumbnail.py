"""Thumbnails: a small WebP per image, next to (never inside) the upload prefix.

Unlike the extractors, this decodes pixels, so it reads the whole object; it
runs only below a pixel and a byte limit, and its reads are counted apart.
JPEGs decode at a reduced scale (`draft`), which keeps their memory small.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from workers import settings
from workers.extractors.image import FORMATS
from workers.notifications import FileKey


def wanted(metadata: dict, size: int) -> bool:
    return metadata["width"] * metadata["height"] <= settings.THUMBNAIL_MAX_PIXELS and size <= settings.THUMBNAIL_MAX_BYTES


def key_for(file_key: str) -> str:
    """thumbnails/{ownerId}/{fileId}.webp: one per file, so a new version of the
    file replaces its thumbnail instead of adding one."""
    parsed = FileKey.parse(file_key)
    if parsed is None:
        raise ValueError(f"{file_key!r} is not an upload key")
    return f"{settings.THUMBNAIL_PREFIX}{parsed.owner_id}/{parsed.file_id}.webp"


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


def store(client, bucket: str, key: str, data: bytes) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=settings.THUMBNAIL_CONTENT_TYPE)
