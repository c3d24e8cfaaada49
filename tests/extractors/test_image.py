import pytest

from tests.invocation import extract

from . import files


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "TIFF"])
def test_each_image_format_reports_its_header(store, fmt):
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp", "TIFF": "image/tiff"}
    metadata = extract(store(files.image(fmt, (40, 30)), mime[fmt])).metadata
    assert metadata["kind"] == "image"
    assert metadata["sniffedType"] == mime[fmt]
    assert (metadata["format"], metadata["width"], metadata["height"], metadata["frames"]) == (fmt, 40, 30, 1)
    assert "declaredType" not in metadata


def test_camera_exif_is_reported_with_a_gps_flag_but_no_coordinates(store):
    metadata = extract(store(files.image("JPEG", exif=True, gps=True), "image/jpeg")).metadata
    assert metadata["exif"] == {
        "make": "Canon",
        "model": "EOS R5",
        "dateTimeOriginal": "2024:05:17 10:42:00",
        "orientation": 6,
        "hasGps": True,
    }
    assert "29.1234" not in str(metadata)
    assert set(metadata["exif"]) == {"make", "model", "dateTimeOriginal", "orientation", "hasGps"}


def test_image_without_exif_reports_empty_exif_facts(store):
    exif = extract(store(files.image("PNG"), "image/png")).metadata["exif"]
    assert exif == {"make": None, "model": None, "dateTimeOriginal": None, "orientation": None, "hasGps": False}


def test_animated_gif_counts_its_frames(store):
    assert extract(store(files.animated_gif(4), "image/gif")).metadata["frames"] == 4


def test_decompression_bomb_fails_as_image_bomb_without_decoding(rejection):
    rejected = rejection(files.png_bomb(), "image/png")
    assert rejected.code == "image_bomb"
    assert "20000x20000" in rejected.message


def test_truncated_png_fails_as_corrupt(rejection):
    whole = files.image("PNG", (300, 300), mode="RGB")
    rejected = rejection(whole[: len(whole) // 2], "image/png")
    assert rejected.code == "corrupt"


def test_png_cut_inside_its_header_fails_as_corrupt(rejection):
    rejected = rejection(files.image("PNG")[:20], "image/png")
    assert rejected.code == "corrupt"
