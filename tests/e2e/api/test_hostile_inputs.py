"""The hostile corpus: requests built to break the API, each with the answer it must get.

Every request is either refused with a 4xx in the error shape (never a 5xx),
or gets a ticket whose key stays inside the caller's own prefix and whose
download saves a safely named attachment."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from contract.http import IDEMPOTENCY_KEY_HEADER, MAX_FILE_SIZE
from contract.keys import INCOMING_PREFIX
from tests.uploading import sha256_b64
from workers.api.filenames import MAX_FILENAME_BYTES
from workers.api.limits import MAX_PART_URLS_PER_REQUEST, MAX_PARTS, MULTIPART_THRESHOLD, MiB

from .conftest import assert_a_safe_attachment, post_object, wait_for_status

DATA = b"hello"
TEXT = {"filename": "notes.txt", "contentType": "text/plain", "size": len(DATA)}
BIG = {"filename": "big.bin", "contentType": "application/octet-stream", "size": MULTIPART_THRESHOLD + 1}
JSON = {"Content-Type": "application/json"}
SHA = sha256_b64(DATA)
SHA_HEX = hashlib.sha256(DATA).hexdigest()
# The expected answer of a request that must get an upload ticket.
TICKET = 201


@dataclass(frozen=True)
class Case:
    name: str
    body: Any = None  # sent as JSON
    raw: bytes | None = None  # sent as it is, instead of `body`
    method: str = "POST"
    path: str = "/uploads"  # `{upload}` is the caller's own unfinished multipart upload
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 400
    code: str = "invalid_request"


def _ticket(**changes) -> dict:
    return {**TEXT, **changes}


def _named(name: str, description: str) -> Case:
    return Case(f"filename: {description}", _ticket(filename=name), status=TICKET)


CORPUS = [
    # Oversized and malformed bodies
    Case("1 MiB filename", _ticket(filename="a" * MiB)),
    Case("1 MiB extra field", _ticket(padding="a" * MiB)),
    Case("2 MiB JSON array", raw=json.dumps([1] * MiB).encode(), headers=JSON),
    Case("100k nested arrays", raw=b'{"filename":' + b"[" * 100_000 + b"]" * 100_000 + b"}", headers=JSON),
    Case("not JSON", raw=b"filename=a.txt", headers=JSON),
    Case("truncated JSON", raw=b'{"filename": "a.txt", ', headers=JSON),
    Case("empty JSON body", raw=b"", headers=JSON),
    Case("JSON null", raw=b"null", headers=JSON),
    Case("JSON array", raw=b"[]", headers=JSON),
    Case("JSON number", raw=b"42", headers=JSON),
    Case("JSON string", raw=b'"a.txt"', headers=JSON),
    Case("NaN size", raw=b'{"filename":"a","contentType":"text/plain","size":NaN}', headers=JSON),
    Case("duplicate keys, the last one bad", raw=b'{"filename":"a","contentType":"text/plain","size":5,"size":-5}',
         headers=JSON),
    Case("not UTF-8", raw=b'{"filename":"\xff\xfe"}', headers=JSON),
    Case("UTF-16 with a BOM", raw=json.dumps(TEXT).encode("utf-16"), headers=JSON),
    Case("UTF-8 BOM", raw=b"\xef\xbb\xbf" + json.dumps(TEXT).encode(), headers=JSON),
    # Request media types
    Case("form body", raw=b"filename=a.txt", headers={"Content-Type": "application/x-www-form-urlencoded"},
         status=415, code="unsupported_media_type"),
    Case("multipart body", raw=b"--x\r\n\r\n--x--", headers={"Content-Type": "multipart/form-data; boundary=x"},
         status=415, code="unsupported_media_type"),
    Case("JSON sent as text/plain", raw=json.dumps(TEXT).encode(), headers={"Content-Type": "text/plain"},
         status=415, code="unsupported_media_type"),
    Case("JSON sent as a +json type", raw=json.dumps(TEXT).encode(),
         headers={"Content-Type": "application/merge-patch+json"}, status=415, code="unsupported_media_type"),
    Case("JSON with a charset", raw=json.dumps(TEXT).encode(),
         headers={"Content-Type": "application/json; charset=utf-8"}, status=TICKET),
    # Wrong JSON types, for every field
    *(Case(f"{name} as {type(value).__name__} {value!r}", _ticket(**{name: value}))
      for name, values in {"filename": (5, None, True, [], {}, ["a.txt"]),
                           "contentType": (5, None, ["text/plain"], {}),
                           "size": ("5", 5.0, 5.5, True, None, [], {"bytes": 5})}.items()
      for value in values),
    Case("a field of someone else's", _ticket(owner="someone-else")),
    Case("a key of someone else's", _ticket(key="incoming/someone-else/x/a.txt")),
    Case("filename missing", {"contentType": "text/plain", "size": 5}),
    # Sizes
    Case("size 0", _ticket(size=0)),
    Case("size -1", _ticket(size=-1)),
    Case("size one over the limit", _ticket(size=MAX_FILE_SIZE + 1), status=413, code="too_large"),
    Case("size 2**63", _ticket(size=2**63), status=413, code="too_large"),
    Case("size 10**100", _ticket(size=10**100), status=413, code="too_large"),
    # Declared content types
    *(Case(f"contentType {value!r}", _ticket(contentType=value))
      for value in ("text/html", "image/svg+xml", "application/xhtml+xml", "application/javascript", "",
                    "TEXT/PLAIN", "text/plain; charset=utf-8", "text/plain\r\nX-Injected: 1", "*/*")),
    # File names: unicode edge cases, traversal, header injection
    _named("résumé.txt", "NFC"),
    _named(unicodedata.normalize("NFD", "résumé.txt"), "NFD"),
    _named("📄🔥 notes.txt", "emoji"),
    Case("filename: lone high surrogate", _ticket(filename="\ud800.txt")),
    Case("filename: lone low surrogate", _ticket(filename="a\udfff")),
    _named("a\u200bb\u200d.txt", "zero-width characters"),
    _named("invoice\u202etxt.exe", "right-to-left override"),
    _named("\u2066evil\u2069\u2067.txt", "bidi isolates"),
    _named("\ufeffbom.txt", "byte order mark"),
    _named("a\u2028b\u2029.txt", "line and paragraph separators"),
    _named("a" * 996 + ".txt", "1000 characters"),
    _named("📄" * 1000, "1000 emoji"),
    Case("filename: 1025 characters", _ticket(filename="a" * 1025)),
    Case("filename: empty", _ticket(filename="")),
    _named("..", "two dots"),
    _named("....", "four dots"),
    _named("a\x00b.txt", "NUL inside"),
    _named("\x00", "only NUL"),
    _named("   ", "only spaces"),
    _named("../../etc/passwd", "../ traversal"),
    _named("..\\..\\windows\\win.ini", "..\\ traversal"),
    _named("%2e%2e%2f%2e%2e%2fetc%2fpasswd", "URL-encoded traversal"),
    _named("/etc/passwd", "absolute path"),
    _named("a/../../../b.txt", "traversal in the middle"),
    _named("\uff0e\uff0e\uff0fetc", "fullwidth dots and solidus"),
    _named("a\r\nSet-Cookie: x=1", "CRLF header injection"),
    _named('a"; filename="evil.html', "quote breaking out of the filename parameter"),
    _named("a\\\";.txt", "backslash and quote"),
    # Path parameters and query strings
    Case("fileId ../ encoded", method="GET", path="/files/..%2f..%2fetc%2fpasswd"),
    Case("fileId %2e%2e", method="GET", path="/files/%2e%2e"),
    Case("fileId with NUL", method="DELETE", path=f"/files/{'0' * 32}%00"),
    Case("fileId upper case", method="POST", path=f"/files/{'A' * 32}/download"),
    Case("fileId 33 characters", method="DELETE", path=f"/uploads/{'0' * 33}"),
    Case("limit -1", method="GET", path="/files?limit=-1"),
    Case("limit 1e2", method="GET", path="/files?limit=1e2"),
    Case("limit 10**20", method="GET", path=f"/files?limit={10**20}"),
    Case("limit repeated", method="GET", path="/files?limit=1&limit=2"),
    Case("cursor of 2000 characters", method="GET", path=f"/files?cursor={'A' * 1000}.{'A' * 999}"),
    Case("cursor with NUL", method="GET", path="/files?cursor=a%00.b"),
    Case("Idempotency-Key of 300 characters", _ticket(), headers={IDEMPOTENCY_KEY_HEADER: "k" * 300}),
    # Multipart bodies, on the caller's own upload
    *(Case(f"part number {value!r}", {"parts": [{"partNumber": value, "sha256": SHA}]}, path="/uploads/{upload}/parts")
      for value in (0, -1, MAX_PARTS + 1, "1", 1.5, None)),
    *(Case(f"part sha256 {value!r}"[:80], {"parts": [{"partNumber": 1, "sha256": value}]},
           path="/uploads/{upload}/parts")
      for value in ("", SHA[:-1], SHA + "=", SHA.replace("=", "A"), "A" * 43 + "\n", 5, None, SHA_HEX)),
    *(Case(f"parts {value!r}"[:80], {"parts": value}, path="/uploads/{upload}/parts")
      for value in ([], "1", None, [{"partNumber": 1}], [{"partNumber": n, "sha256": SHA} for n in (1, 1)],
                    [{"partNumber": n, "sha256": SHA} for n in range(1, MAX_PART_URLS_PER_REQUEST + 2)])),
    Case("partNumbers, the old body", {"partNumbers": [1]}, path="/uploads/{upload}/parts"),
    *(Case(f"completed parts {value!r}"[:80], {"parts": value}, path="/uploads/{upload}/complete")
      for value in ([], [{"partNumber": 1, "etag": "", "sha256": SHA}],
                    [{"partNumber": 1, "etag": "e" * 2000, "sha256": SHA}],
                    [{"partNumber": 0, "etag": "x", "sha256": SHA}], [{"partNumber": 1, "sha256": SHA}],
                    [{"partNumber": 1, "etag": 5, "sha256": SHA}], [{"partNumber": 1, "etag": "x"}],
                    [{"partNumber": 1, "etag": "x", "sha256": "x"}],
                    [{"partNumber": 1, "etag": "x", "sha256": SHA}] * 2, {"1": "x"})),
    # Checksums on a ticket
    *(Case(f"ticket sha256 {value!r}"[:80], _ticket(sha256=value))
      for value in ("", SHA[:-1], "A" * 44, SHA_HEX, 5, ["x"])),
    Case("ticket sha256 on a multipart upload", {**BIG, "sha256": SHA}),
]


@pytest.fixture(scope="module")
def own_upload(api) -> str:
    response = api("POST", "/uploads", json=BIG)
    assert response.status_code == 201
    return response.json()["fileId"]


def _send(api, case: Case, own_upload: str):
    path = case.path.replace("{upload}", own_upload)
    if case.raw is not None:
        return api(case.method, path, data=case.raw, headers=case.headers)
    if case.body is None:
        return api(case.method, path, headers=case.headers)
    return api(case.method, path, json=case.body, headers=case.headers)


def _key_problem(api, ticket: dict) -> str | None:
    prefix = f"{INCOMING_PREFIX}{api.sub}/{ticket['fileId']}/"
    if not ticket["key"].startswith(prefix):
        return f"key {ticket['key']!r} is outside {prefix!r}"
    segment = ticket["key"][len(prefix):]
    if "/" in segment or "\\" in segment or ".." in segment or not segment.strip("."):
        return f"key segment {segment!r} could traverse"
    if len(segment.encode()) > MAX_FILENAME_BYTES:
        return f"key segment of {len(segment.encode())} bytes"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in segment):
        return f"key segment {segment!r} holds control or format characters"
    return None


def _answer_problem(case: Case, response) -> str | None:
    """Why a response is not the case's expected answer, or None."""
    if response.status_code != case.status:
        return f"status {response.status_code}, expected {case.status}: {response.text[:200]}"
    if case.status == TICKET:
        return None
    body = response.json()
    if set(body) != {"error"} or set(body["error"]) != {"code", "message"}:
        return f"not the error shape: {body}"
    if body["error"]["code"] != case.code:
        return f"code {body['error']['code']}, expected {case.code}"
    return None


def test_the_hostile_corpus_gets_only_clean_answers(api, own_upload):
    problems: dict[str, str] = {}
    tickets: dict[str, dict] = {}
    for case in CORPUS:
        response = _send(api, case, own_upload)
        problem = _answer_problem(case, response)
        if problem is None and case.status == TICKET:
            tickets[case.name] = response.json()
            problem = _key_problem(api, response.json())
        if problem:
            problems[case.name] = problem
    for ticket in tickets.values():
        post_object(ticket, DATA)
    for name, ticket in tickets.items():
        wait_for_status(api, ticket["fileId"])
        link = api("POST", f"/files/{ticket['fileId']}/download").json()
        try:
            assert_a_safe_attachment(requests.get(link["url"], timeout=30))
        except AssertionError as failed:
            problems[name] = f"download: {failed}"
    print(f"\nhostile corpus: {len(CORPUS)} tried, {len(CORPUS) - len(problems)} met")
    assert problems == {}


@pytest.mark.parametrize("name", ["...", ".", ".. ."])
def test_a_name_of_only_dots_still_gets_a_named_key(api, name):
    response = api("POST", "/uploads", json=_ticket(filename=name))
    assert response.status_code == 201
    assert _key_problem(api, response.json()) is None
