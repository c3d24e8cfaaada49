"""Uploading as a client of the API does, with the SHA-256 the dashboard sends.

`api` is any callable `(method, path, json=...) -> requests.Response` on the HTTP API.
"""

from __future__ import annotations

import base64
import hashlib

import requests

from workers.api.limits import MULTIPART_THRESHOLD


def sha256_b64(data: bytes) -> str:
    """A SHA-256 as S3's `x-amz-checksum-sha256` and the API carry it."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def composite_sha256(chunks: list[bytes]) -> str:
    """S3's composite checksum of a multipart object, computed from its parts' bytes."""
    digests = b"".join(hashlib.sha256(chunk).digest() for chunk in chunks)
    return f"{base64.b64encode(hashlib.sha256(digests).digest()).decode()}-{len(chunks)}"


def chunks_of(ticket: dict, data: bytes) -> list[bytes]:
    size = ticket["upload"]["partSize"]
    return [data[start:start + size] for start in range(0, len(data), size)]


def create_ticket(api, name: str, data: bytes, content_type: str = "application/octet-stream",
                  with_sha256: bool = True) -> dict:
    body = {"filename": name, "contentType": content_type, "size": len(data)}
    if with_sha256 and len(data) <= MULTIPART_THRESHOLD:
        body["sha256"] = sha256_b64(data)
    created = api("POST", "/uploads", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def put_object(ticket: dict, data: bytes) -> requests.Response:
    upload = ticket["upload"]
    assert upload["method"] == "PUT"
    return requests.put(upload["url"], data=data, headers=upload["headers"], timeout=60)


def send_parts(api, ticket: dict, data: bytes) -> list[dict]:
    """Every part, each with its own SHA-256; returns the parts to complete with."""
    chunks = chunks_of(ticket, data)
    asked = [{"partNumber": number, "sha256": sha256_b64(chunk)} for number, chunk in enumerate(chunks, 1)]
    signed = api("POST", f"/uploads/{ticket['fileId']}/parts", json={"parts": asked})
    assert signed.status_code == 200, signed.text
    completed = []
    for part, chunk in zip(signed.json()["parts"], chunks, strict=True):
        sent = requests.put(part["url"], data=chunk, headers=part["headers"], timeout=60)
        assert sent.status_code == 200, sent.text
        completed.append({"partNumber": part["partNumber"], "etag": sent.headers["ETag"],
                          "sha256": sha256_b64(chunk)})
    return completed


def upload_multipart(api, name: str, data: bytes) -> tuple[dict, list[dict]]:
    """A whole multipart upload; returns the ticket and the completed parts."""
    ticket = create_ticket(api, name, data)
    assert ticket["upload"]["method"] == "MULTIPART"
    parts = send_parts(api, ticket, data)
    done = api("POST", f"/uploads/{ticket['fileId']}/complete", json={"parts": parts})
    assert done.status_code == 200, done.text
    return ticket, parts
