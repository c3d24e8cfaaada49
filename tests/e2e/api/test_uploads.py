"""A client's whole journey over HTTP: sign in, upload, wait, list, download, delete."""

from __future__ import annotations

import os
import time

import requests

from tests.uploading import chunks_of, composite_sha256, upload_multipart
from workers.api.limits import MULTIPART_THRESHOLD, MiB

from .conftest import post_object, upload_small, wait_for_status


def test_presigned_post_upload_is_processed_downloaded_and_deleted(api):
    data = "héllo, wörld\n".encode()
    started = time.monotonic()
    file_id = upload_small(api, "grüße.txt", data)
    file = wait_for_status(api, file_id)
    print(f"\npresigned POST upload to processed: {time.monotonic() - started:.2f}s")
    assert file["status"] == "processed" and file["size"] == len(data) and file["filename"] == "grüße.txt"

    link = api("POST", f"/files/{file_id}/download").json()
    fetched = requests.get(link["url"], timeout=30)
    assert fetched.content == data
    assert fetched.headers["content-disposition"].startswith("attachment;")

    assert api("DELETE", f"/files/{file_id}").status_code == 204
    assert api("GET", f"/files/{file_id}").status_code == 404
    # The bytes are gone (S3 answers 403 or 404 for a missing object, depending on permissions).
    assert requests.get(link["url"], timeout=30).status_code in (403, 404)
    assert api("DELETE", f"/files/{file_id}").status_code == 204


def test_multipart_upload_of_a_large_file(api):
    size = MULTIPART_THRESHOLD + 3 * MiB
    data = os.urandom(size)
    started = time.monotonic()
    ticket, parts = upload_multipart(api, "big.bin", data)
    file_id = ticket["fileId"]
    uploaded = time.monotonic()
    file = wait_for_status(api, file_id)
    print(f"\nmultipart {size / MiB:.0f} MiB: upload {uploaded - started:.2f}s, "
          f"then processed after {time.monotonic() - uploaded:.2f}s")
    assert file["status"] == "processed" and file["size"] == size
    assert file["sha256"] == composite_sha256(chunks_of(ticket, data))

    fetched = requests.get(api("POST", f"/files/{file_id}/download").json()["url"], timeout=60)
    assert fetched.content == data
    assert api("POST", f"/uploads/{file_id}/complete", json={"parts": parts}).status_code == 409
    assert api("DELETE", f"/files/{file_id}").status_code == 204


def test_listing_pages_through_every_file_newest_first(api):
    ids = [upload_small(api, f"page-{i}.txt", b"x") for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api("GET", "/files", params=params).json()
        assert len(page["items"]) <= 2
        seen += [f["fileId"] for f in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert [i for i in seen if i in ids] == ids[::-1]


def test_gateway_answers_cors_for_the_dashboard_only(api, stack):
    origin = stack.dashboard_origin
    preflight = api("OPTIONS", "/files", headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert api("GET", "/files", headers={"Origin": origin}).headers["access-control-allow-origin"] == origin
    stranger = api("GET", "/files", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers


def test_unknown_routes_are_404_like_api_gateway(api):
    response = api("GET", "/nope")
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


def test_a_ticket_is_spent_when_its_object_arrives(api, stack):
    # A presigned POST can be sent again until it expires; the second object is
    # not a new upload, and the file stays the bytes first recorded.
    ticket = api("POST", "/uploads", json={"filename": "once.txt", "contentType": "text/plain", "size": 64}).json()
    post_object(ticket, b"the first upload\n")
    first = wait_for_status(api, ticket["fileId"])
    assert first["status"] == "processed"
    post_object(ticket, b"sent again with the same form\n")
    s3 = stack.client("s3")

    def versions() -> list[str]:
        listed = s3.list_object_versions(Bucket=stack.bucket, Prefix=ticket["key"])
        return [v["VersionId"] for v in listed.get("Versions", [])]

    deadline = time.monotonic() + 30
    while len(versions()) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(versions()) == 1
    assert api("GET", f"/files/{ticket['fileId']}").json() == first
    link = api("POST", f"/files/{ticket['fileId']}/download").json()["url"]
    assert requests.get(link, timeout=30).content == b"the first upload\n"
