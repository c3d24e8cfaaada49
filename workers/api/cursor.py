"""Listing cursors: opaque to clients, tamper-evident, and bound to one caller.

A cursor carries the position after the last item of a page (the list index's
sort key and the file id) plus an HMAC over the position and the caller's `sub`.
Altering any byte, or presenting someone else's cursor, fails verification, so
a client can never steer the Query outside its own partition.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass


class InvalidCursor(Exception):
    pass


@dataclass(frozen=True)
class Position:
    list_sort_key: str
    file_id: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Only the canonical spelling is accepted, so every changed character is detected.
    if _b64encode(data) != text:
        raise ValueError("not canonical base64")
    return data


def _mac(secret: bytes, owner_id: str, payload: str) -> bytes:
    # The owner is part of the signed message, never of the cursor itself.
    return hmac.new(secret, f"{owner_id}\n{payload}".encode(), hashlib.sha256).digest()


def encode(secret: bytes, owner_id: str, position: Position) -> str:
    payload = _b64encode(json.dumps([position.list_sort_key, position.file_id], separators=(",", ":")).encode())
    return f"{payload}.{_b64encode(_mac(secret, owner_id, payload))}"


def decode(secret: bytes, owner_id: str, cursor: str) -> Position:
    payload, _, signature = cursor.partition(".")
    try:
        valid = hmac.compare_digest(_b64decode(signature), _mac(secret, owner_id, payload))
        if not valid:
            raise InvalidCursor("the cursor was not issued to this caller")
        sort_key, file_id = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor("the cursor is malformed") from exc
    if not isinstance(sort_key, str) or not isinstance(file_id, str):
        raise InvalidCursor("the cursor is malformed")
    return Position(sort_key, file_id)
