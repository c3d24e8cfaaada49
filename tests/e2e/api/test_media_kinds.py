"""Photos, PDF previews, audio and video through the whole path: a ticket
for the declared type, the upload, the worker's record and its thumbnail."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.extractors import files

from .conftest import upload_small, wait_for_status


@pytest.mark.parametrize(("filename", "make", "content_type", "kind", "facts"), [
    ("IMG_0001.HEIC", lambda: files.heif("HEIF", (640, 480), exif=True), "image/heic", "heif",
     {"width": 640, "height": 480, "format": "HEIF"}),
    ("report.pdf", lambda: files.drawn_pdf((400, 200)), "application/pdf", "pdf", {"preview": "first page"}),
])
def test_a_photo_and_a_pdf_are_described_and_drawn(api, filename, make, content_type, kind, facts):
    file = wait_for_status(api, upload_small(api, filename, make(), content_type))
    assert file["status"] == "processed", file
    assert file["metadata"]["kind"] == kind
    assert facts.items() <= file["metadata"].items()
    shown = requests.get(file["thumbnailUrl"], timeout=30)
    assert shown.status_code == 200
    assert Image.open(io.BytesIO(shown.content)).format == "WEBP"


def test_a_video_indexed_at_its_end_is_described_with_its_duration_and_size(api):
    made = files.video("mp4", "mpeg4", seconds=2, size=(320, 240))
    file = wait_for_status(api, upload_small(api, "clip.mp4", made, "video/mp4"))
    assert file["status"] == "processed", file
    metadata = file["metadata"]
    assert (metadata["kind"], metadata["durationSeconds"]) == ("video", 2.0)
    assert (metadata["video"]["width"], metadata["video"]["height"]) == (320, 240)
    assert file["thumbnailUrl"] is None
