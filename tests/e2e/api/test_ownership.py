"""No user reaches another user's file or upload through any route of the API.

Driven by `API_ROUTES`: a route added there without an attempt below
fails here, so ownership is decided for every route, not remembered."""

from __future__ import annotations

import uuid

import pytest
import requests

from contract.http import API_ROUTES, IDEMPOTENCY_KEY_HEADER
from contract.keys import INCOMING_PREFIX
from local import cognito
from tests.uploading import sha256_b64
from workers.api.limits import LIST_MAX_LIMIT, MULTIPART_THRESHOLD

from .conftest import Api, upload_small, wait_for_status

CONTENT = b"only the owner may touch this\n"
BIG = {"filename": "big.bin", "contentType": "application/octet-stream", "size": MULTIPART_THRESHOLD + 1}
# How the other user calls each route that names a file; each is tried on the
# owner's processed file and on the owner's unfinished multipart upload.
ON_A_FILE = {
    "POST /uploads/{fileId}/parts": {"json": {"parts": [{"partNumber": 1, "sha256": sha256_b64(b"1")}]}},
    "GET /uploads/{fileId}/parts": {},
    "POST /uploads/{fileId}/complete": {"json": {"parts": [{"partNumber": 1, "etag": '"0"',
                                                            "sha256": sha256_b64(b"1")}]}},
    "DELETE /uploads/{fileId}": {},
    "GET /files/{fileId}": {},
    "POST /files/{fileId}/download": {},
    "DELETE /files/{fileId}": {},
}
# The routes that name no file; what the other user tries on them is in the tests below.
WITHOUT_A_FILE = ("POST /uploads", "GET /files", "GET /usage")


@pytest.fixture(scope="module")
def owners(api) -> dict:
    """The owner's processed file, unfinished multipart upload, listing cursor and idempotency key."""
    file_id = upload_small(api, "mine.txt", CONTENT)
    assert wait_for_status(api, file_id)["status"] == "processed"
    upload = api("POST", "/uploads", json=BIG).json()
    key = "the-owners-key"
    api("POST", "/uploads", json={"filename": "k.txt", "contentType": "text/plain", "size": 1},
        headers={IDEMPOTENCY_KEY_HEADER: key})
    cursor = api("GET", "/files", params={"limit": 1}).json()["nextCursor"]
    assert cursor
    return {"file": file_id, "upload": upload["fileId"], "cursor": cursor, "idempotency_key": key}


def _call(client, route: str, file_id: str) -> requests.Response:
    method, path = route.split(" ", 1)
    return client(method, path.replace("{fileId}", file_id), **ON_A_FILE[route])


@pytest.mark.parametrize("route", API_ROUTES)
def test_every_route_is_tried_by_another_user(route):
    assert route in ON_A_FILE or route in WITHOUT_A_FILE, f"{route}: add how another user attacks it"


@pytest.mark.parametrize("route", ON_A_FILE)
@pytest.mark.parametrize("target", ["file", "upload"])
def test_another_users_file_answers_404_exactly_like_a_missing_one(api, other_api, owners, route, target):
    stolen = _call(other_api, route, owners[target])
    missing = _call(other_api, route, uuid.uuid4().hex)
    assert stolen.status_code == 404
    assert stolen.json() == missing.json() == {"error": {"code": "not_found", "message": "No such file"}}


def test_another_users_attempts_leave_the_owners_file_and_upload_untouched(api, other_api, owners):
    for route in ON_A_FILE:
        for target in ("file", "upload"):
            _call(other_api, route, owners[target])
    link = api("POST", f"/files/{owners['file']}/download").json()
    assert requests.get(link["url"], timeout=30).content == CONTENT
    assert api("GET", f"/files/{owners['upload']}").json()["status"] == "pending"
    assert api("POST", f"/uploads/{owners['upload']}/parts",
               **ON_A_FILE["POST /uploads/{fileId}/parts"]).status_code == 200


def test_another_users_listing_holds_none_of_the_owners_files(api, other_api, owners):
    upload_small(other_api, "theirs.txt", b"x")
    listed = other_api("GET", "/files", params={"limit": LIST_MAX_LIMIT}).json()["items"]
    assert listed and not {owners["file"], owners["upload"]} & {f["fileId"] for f in listed}


def test_another_user_cannot_page_on_with_the_owners_cursor(other_api, owners):
    response = other_api("GET", "/files", params={"cursor": owners["cursor"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"


def test_another_user_reusing_the_owners_idempotency_key_gets_a_ticket_of_their_own(other_api, owners):
    response = other_api("POST", "/uploads", json={"filename": "k.txt", "contentType": "text/plain", "size": 1},
                         headers={IDEMPOTENCY_KEY_HEADER: owners["idempotency_key"]})
    assert response.status_code == 201
    assert response.json()["key"].startswith(f"{INCOMING_PREFIX}{other_api.sub}/")


def test_another_users_usage_counts_none_of_the_owners_files(stack, api, owners):
    newcomer = cognito.sign_in(stack.client("cognito-idp"), stack.outputs["userPoolClientId"],
                               cognito.create_user(stack.client("cognito-idp"), stack.outputs["userPoolId"],
                                                   "newcomer@example.com"))
    theirs = Api(stack.outputs["apiUrl"], newcomer["AccessToken"])("GET", "/usage").json()
    assert api("GET", "/usage").json()["files"]["used"] >= 2
    assert (theirs["bytes"]["used"], theirs["files"]["used"]) == (0, 0)
