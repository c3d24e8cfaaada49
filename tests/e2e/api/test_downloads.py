"""A download URL saves the file; it never renders active content inline, in
the bucket's origin, whatever the bytes, the declared type or the name."""

from __future__ import annotations

import itertools

import pytest
import requests

from .conftest import assert_a_safe_attachment, upload_small, wait_for_status

HTML = b"<!doctype html><script>document.title = document.cookie</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
HOSTILE_NAMES = (
    "page.html",
    'a"; filename="evil.html',
    "a\r\nSet-Cookie: session=stolen\r\n\r\n.html",
    "invoice\u202elmth.pdf",
    "../../../index.html",
    "..\\..\\evil.svg",
    "%2e%2e%2fevil.html",
    "\u0000.html",
)


def _download(api, file_id: str) -> requests.Response:
    link = api("POST", f"/files/{file_id}/download")
    assert link.status_code == 200, link.text
    return requests.get(link.json()["url"], timeout=30)


@pytest.fixture(scope="module")
def uploaded(api) -> dict[tuple[str, str], str]:
    """Active content under each hostile name, declared in turn as each type that could carry it."""
    disguises = itertools.cycle([(HTML, "text/plain"), (SVG, "application/octet-stream"), (SVG, "image/png")])
    ids = {(name, content_type): upload_small(api, name, data, content_type)
           for name, (data, content_type) in zip(HOSTILE_NAMES, disguises, strict=False)}
    for file_id in ids.values():
        wait_for_status(api, file_id)
    return ids


def test_active_content_under_a_hostile_name_downloads_as_a_safe_attachment(api, uploaded):
    for (name, content_type), file_id in uploaded.items():
        response = _download(api, file_id)
        assert_a_safe_attachment(response)
        assert response.content in (HTML, SVG), (name, content_type)


@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/xhtml+xml", "TEXT/PLAIN"])
def test_an_active_or_unlisted_content_type_cannot_be_declared(api, content_type):
    response = api("POST", "/uploads", json={"filename": "page.html", "contentType": content_type, "size": 10})
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("contentType:")


@pytest.mark.parametrize("stored_type", ["text/html", "image/svg+xml"])
def test_an_object_stored_with_an_active_type_still_downloads_as_a_safe_attachment(api, stack, stored_type):
    ticket = api("POST", "/uploads", json={"filename": "x.html", "contentType": "text/plain", "size": len(HTML)}).json()
    upload = ticket["upload"]
    # S3 (and the local stack's S3 front) refuses the ticket's POST with another Content-Type ...
    sent = requests.post(upload["url"], data={**upload["fields"], "Content-Type": stored_type},
                         files={"file": ("x.html", HTML)}, timeout=30)
    assert sent.status_code == 403
    # ... so the active type gets there another way: a script with the bucket's credentials.
    stack.client("s3").put_object(Bucket=stack.outputs["bucketName"], Key=ticket["key"], Body=HTML,
                                  ContentType=stored_type)
    wait_for_status(api, ticket["fileId"])
    assert_a_safe_attachment(_download(api, ticket["fileId"]))
