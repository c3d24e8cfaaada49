"""HEIC/HEIF photos (what iPhone cameras save) and AVIF: described and drawn
as the image kind describes and draws its formats, under the same pixel-bomb
rules, with the same EXIF facts (GPS withheld).

Pillow reads AVIF itself; HEIC needs libheif, through the pillow-heif plugin,
which only HEIF files import. Both hand the decoder the whole file rather
than reading by range, so the fetch budget bounds what a file may be.
"""

from __future__ import annotations

import contextlib
import functools
import io

from workers.errors import FileRejected
from workers.extraction import thumbnail
from workers.extraction.kinds import image
from workers.extraction.limits import ExtractBudget, MiB
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Magic

FORMATS = ("HEIF", "AVIF")
# An iPhone's 48-megapixel HEIC is 5 to 15 MB.
MAX_BYTES = 48 * MiB
_SECURITY_LIMIT = "Security limit exceeded"


@functools.cache
def heif_plugin():
    """Pillow, configured as the image kind configures it, with libheif's
    opener registered. Depth maps, auxiliary images and embedded thumbnails
    are left undecoded: only the primary image is described or drawn."""
    import pillow_heif

    image.pillow()
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False, decode_threads=1)


def _brand(brand: bytes, mime: str) -> Magic:
    # ISO/IEC 14496-12 `ftyp`: the major brand follows the box type.
    return Magic(mime, {4: b"ftyp", 8: brand})


def _render(stream: io.BufferedIOBase) -> bytes:
    heif_plugin()
    with _limits_as_bombs():
        return image.render(stream, FORMATS)


@contextlib.contextmanager
def _limits_as_bombs():
    """libheif refuses to allocate past its own limits (a gigapixel), when
    opening or, for a size declared apart from the coded image, when decoding:
    a size that large is a bomb, not damage."""
    try:
        yield
    except (OSError, ValueError, SyntaxError, RuntimeError) as error:
        if _SECURITY_LIMIT in str(error):
            raise FileRejected("image_bomb", str(error).strip()) from error
        raise


@extractor(
    "heif",
    signatures=(
        *(_brand(brand, "image/heic") for brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")),
        *(_brand(brand, "image/heif") for brand in (b"mif1", b"msf1")),
        *(_brand(brand, "image/avif") for brand in (b"avif", b"avis")),
    ),
    # Decoding holds the whole file and the whole bitmap: a 12-megapixel HEIC
    # or AVIF grew the child by 114 and 124 MiB (the hostile corpus).
    budget=ExtractBudget(fetch_bytes=MAX_BYTES, memory_bytes=192 * MiB),
    thumbnail=thumbnail.Thumbnail(wanted=image.wants_thumbnail, render=_render, max_bytes=MAX_BYTES),
    library=heif_plugin,
)
def describe(source: Source) -> dict:
    heif_plugin()
    with _limits_as_bombs():
        return image.describe_as(source, FORMATS)
