"""HEIC/HEIF and AVIF photos: the image kind's facts, thumbnail and bomb rules."""

import io

import pytest
from PIL import Image

from tests.invocation import extract
from tests.workers import hostile
from workers.extraction.kinds import heif, image
from workers.extraction.thumbnail import SIZE

from . import files

CAMERA_EXIF = {"make": "Canon", "model": "EOS R5", "dateTimeOriginal": "2024:05:17 10:42:00", "orientation": 6,
               "hasGps": True}


@pytest.mark.parametrize(("fmt", "mime"), [("HEIF", "image/heic"), ("AVIF", "image/avif")])
def test_a_photo_made_with_known_size_and_exif_comes_back_with_them(store, fmt, mime):
    metadata = extract(store(files.heif(fmt, (320, 240), exif=True, gps=True), mime)).metadata
    assert (metadata["kind"], metadata["sniffedType"], metadata["format"]) == ("heif", mime, fmt)
    assert (metadata["width"], metadata["height"], metadata["mode"], metadata["frames"]) == (320, 240, "RGB", 1)
    assert metadata["exif"] == CAMERA_EXIF
    assert "29.1234" not in str(metadata)
    assert "declaredType" not in metadata


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_photo_gets_a_webp_thumbnail(store, fmt):
    thumb = Image.open(io.BytesIO(extract(store(files.heif(fmt, (640, 480)), "image/heic")).thumbnail))
    assert thumb.format == "WEBP"
    assert thumb.size == (SIZE[0], SIZE[0] * 480 // 640)


def test_a_heic_declared_as_jpeg_is_judged_by_its_bytes(store):
    metadata = extract(store(files.heif("HEIF"), "image/jpeg")).metadata
    assert (metadata["kind"], metadata["sniffedType"], metadata["declaredType"]) == ("heif", "image/heic", "image/jpeg")


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_photo_over_the_pixel_limit_is_a_bomb_and_is_not_decoded(rejection, monkeypatch, fmt):
    monkeypatch.setattr(image, "MAX_PIXELS", 64 * 48 - 1)
    rejected = rejection(files.heif(fmt, (64, 48)), "image/heic")
    assert rejected.code == "image_bomb"
    assert "64x48" in rejected.message


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_truncated_photo_fails_as_corrupt(rejection, fmt):
    whole = files.heif(fmt, (64, 48))
    assert rejection(whole[: len(whole) // 2], "image/heic").code == "corrupt"


def test_a_brand_that_lies_about_its_content_fails_as_corrupt(rejection):
    assert rejection(hostile.HEIC_BRAND + b"\x00" * 64, "image/heic").code == "corrupt"


def test_a_photo_over_the_thumbnail_pixel_limit_gets_none(store, monkeypatch):
    monkeypatch.setattr(image, "THUMBNAIL_MAX_PIXELS", 64 * 48 - 1)
    assert extract(store(files.heif("HEIF", (64, 48)), "image/heic")).thumbnail is None


def test_a_photo_past_the_kinds_fetch_budget_fails_as_too_large(rejection):
    # The decoders take the whole file: the fetch budget is the size limit.
    padded = files.heif("HEIF") + bytes(heif.MAX_BYTES)
    rejected = rejection(padded, "image/heic")
    assert rejected.code == "too_large"
