"""A listing cursor is usable only as issued, and only by the user it was issued to.

Every altered, cut, re-encoded, replayed or forged cursor is a 400 with the
error shape and never a page of anybody's files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string

import pytest

from .conftest import upload_small

ALPHABET = string.ascii_letters + string.digits + "-_"


@pytest.fixture(scope="module")
def issued(api) -> str:
    for index in range(2):
        upload_small(api, f"listed-{index}.txt", b"x")
    cursor = api("GET", "/files", params={"limit": 1}).json()["nextCursor"]
    assert api("GET", "/files", params={"cursor": cursor}).status_code == 200
    return cursor


def _assert_refused(client, cursor: str) -> None:
    response = client("GET", "/files", params={"cursor": cursor})
    body = response.json()
    assert response.status_code == 400, cursor
    assert set(body) == {"error"} and body["error"]["message"].startswith("cursor:"), cursor


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_cursor_changed_in_any_character_is_400(api, issued):
    for index, char in enumerate(issued):
        if char == ".":
            continue
        # The neighbour in the alphabet: it differs in the lowest bits, which the
        # last character of a segment leaves unused.
        other = ALPHABET[(ALPHABET.index(char) + 1) % len(ALPHABET)]
        _assert_refused(api, issued[:index] + other + issued[index + 1:])


def test_a_truncated_or_extended_cursor_is_400(api, issued):
    for end in range(1, len(issued)):
        _assert_refused(api, issued[:end])
    for extra in ("A", "AA", ".A", "-"):
        _assert_refused(api, issued + extra)


def test_a_re_encoded_cursor_is_400(api, issued):
    payload, signature = issued.split(".")
    position = json.loads(_unb64(payload))
    for re_encoded in (
        f"{payload}==.{signature}",
        f"{payload}.{signature}=",
        f"{base64.b64encode(_unb64(payload)).decode()}.{base64.b64encode(_unb64(signature)).decode()}",
        f"{_b64(json.dumps(position).encode())}.{signature}",
        f"{_b64(json.dumps(position, separators=(',', ':'), ensure_ascii=False).encode() + b' ')}.{signature}",
        f"{_b64(_unb64(payload).upper())}.{signature}",
        f"{payload}.{_unb64(signature).hex()}",
        f"{signature}.{payload}",
    ):
        # Standard base64 spells some cursors exactly as issued; those are not re-encodings.
        if re_encoded != issued:
            _assert_refused(api, re_encoded)


def test_a_cursor_replayed_by_another_user_is_400(other_api, issued):
    _assert_refused(other_api, issued)


def test_a_forged_cursor_is_400(api, other_api, issued):
    payload, _ = issued.split(".")
    guesses = (b"", b"secret", b"0" * 64, b"local", api.sub.encode(), other_api.sub.encode())
    for secret in guesses:
        for owner in (api.sub, other_api.sub):
            signature = hmac.new(secret, f"{owner}\n{payload}".encode(), hashlib.sha256).digest()
            for client in (api, other_api):
                _assert_refused(client, f"{payload}.{_b64(signature)}")
    for signature in ("", "A", _b64(bytes(32)), _b64(hashlib.sha256(payload.encode()).digest())):
        _assert_refused(api, f"{payload}.{signature}")
