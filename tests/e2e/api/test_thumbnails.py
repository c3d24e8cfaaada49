"""A thumbnail link shows the thumbnail: the API signs a GET of
`thumbnails/...`, so the API's role must be allowed to read it, as it is on
AWS (the local stack enforces the role's policy on the presigned request)."""

from __future__ import annotations

import io

import requests
from PIL import Image

from .conftest import upload_small, wait_for_status


def png(width: int = 320, height: int = 240) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def test_a_thumbnail_link_shows_the_thumbnail_until_the_file_is_deleted(api):
    file_id = upload_small(api, "photo.png", png(), "image/png")
    file = wait_for_status(api, file_id)
    assert file["status"] == "processed" and file["thumbnailUrl"]

    shown = requests.get(file["thumbnailUrl"], timeout=30)
    assert shown.status_code == 200, shown.text
    assert shown.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(shown.content)).format == "WEBP"

    # Deleting the file removes every version of its thumbnail too.
    assert api("DELETE", f"/files/{file_id}").status_code == 204
    assert requests.get(file["thumbnailUrl"], timeout=30).status_code in (403, 404)
