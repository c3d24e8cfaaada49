import io

from PIL import Image

from tests.invocation import extract
from workers.extraction.kinds import image
from workers.extraction.thumbnail import SIZE

from . import files


def test_image_gets_a_small_webp_thumbnail(store):
    extraction = extract(store(files.image("JPEG", (1200, 900)), "image/jpeg"))
    thumb = Image.open(io.BytesIO(extraction.thumbnail))
    assert thumb.format == "WEBP"
    assert max(thumb.size) == max(SIZE)


def test_thumbnail_is_turned_upright_by_the_exif_orientation(store):
    # Orientation 6: the camera was turned; the stored 64x48 shows as 48x64.
    extraction = extract(store(files.image("JPEG", (64, 48), exif=True), "image/jpeg"))
    assert Image.open(io.BytesIO(extraction.thumbnail)).size == (48, 64)


def test_image_over_the_pixel_limit_gets_no_thumbnail(store, monkeypatch):
    monkeypatch.setattr(image, "THUMBNAIL_MAX_PIXELS", 64 * 48 - 1)
    assert extract(store(files.image("PNG", (64, 48)), "image/png")).thumbnail is None


def test_kinds_that_draw_nothing_get_no_thumbnail(store):
    assert extract(store(files.archive({"a.txt": b"hello"}), "application/zip")).thumbnail is None
