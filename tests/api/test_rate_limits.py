"""Per-user rate limits on tickets and part URLs, on moto."""

from __future__ import annotations

import json

import pytest

from contract.quotas import Quotas
from workers.api import quota, ratelimit
from workers.api.limits import MULTIPART_THRESHOLD

from .conftest import sha256_b64

LIMITED = Quotas(tickets_per_minute=3, part_url_requests_per_minute=2)
TEXT = {"filename": "notes.txt", "contentType": "text/plain", "size": 5}
BIG = {"filename": "big.bin", "contentType": "application/octet-stream", "size": MULTIPART_THRESHOLD + 1}
# A window's start; the tests begin 10 s into it.
WINDOW_START = 1_800_000_000 - 1_800_000_000 % ratelimit.WINDOW_S


@pytest.fixture
def clock(aws, monkeypatch):
    for name, value in LIMITED.variables().items():
        monkeypatch.setenv(name, value)
    quota.limits.cache_clear()

    class Clock:
        now = WINDOW_START + 10.0

        def time(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    return clock


def test_a_burst_past_the_ticket_limit_gets_429_with_retry_after(alice, clock):
    for _ in range(LIMITED.tickets_per_minute):
        assert alice("POST", "/uploads", TEXT)[0] == 201
    response = alice.respond("POST", "/uploads", TEXT)
    assert response["statusCode"] == 429
    assert response["headers"]["Retry-After"] == "50"
    error = json.loads(response["body"])["error"]
    assert error["code"] == "rate_limited" and "at most 3 a minute" in error["message"]


def test_the_next_window_admits_the_full_limit_again_however_hard_the_last_was_hammered(alice, clock):
    for _ in range(LIMITED.tickets_per_minute + 5):
        alice("POST", "/uploads", TEXT)
    clock.now = WINDOW_START + ratelimit.WINDOW_S + 59.5
    statuses = [alice("POST", "/uploads", TEXT)[0] for _ in range(LIMITED.tickets_per_minute + 1)]
    assert statuses == [201] * LIMITED.tickets_per_minute + [429]
    assert alice.respond("POST", "/uploads", TEXT)["headers"]["Retry-After"] == "1"


def test_part_url_requests_have_a_limit_of_their_own(alice, clock):
    upload = alice("POST", "/uploads", BIG)[1]
    for _ in range(LIMITED.tickets_per_minute - 1):
        alice("POST", "/uploads", TEXT)
    assert alice("POST", "/uploads", TEXT)[0] == 429
    parts, body = f"/uploads/{upload['fileId']}/parts", {"parts": [{"partNumber": 1, "sha256": sha256_b64(b"part")}]}
    statuses = [alice("POST", parts, body)[0] for _ in range(LIMITED.part_url_requests_per_minute + 1)]
    assert statuses == [200] * LIMITED.part_url_requests_per_minute + [429]


def test_one_users_burst_leaves_another_users_limit_untouched(alice, bob, clock):
    for _ in range(LIMITED.tickets_per_minute + 1):
        alice("POST", "/uploads", TEXT)
    assert bob("POST", "/uploads", TEXT)[0] == 201


def test_a_replayed_ticket_counts_as_a_request(alice, clock):
    key = {"Idempotency-Key": "retry"}
    statuses = [alice("POST", "/uploads", TEXT, headers=key)[0] for _ in range(LIMITED.tickets_per_minute + 1)]
    assert statuses == [201] * LIMITED.tickets_per_minute + [429]


def test_requests_other_than_signing_uploads_are_not_limited(alice, clock):
    for _ in range(LIMITED.tickets_per_minute + 1):
        alice("POST", "/uploads", TEXT)
    assert [alice("GET", "/files")[0] for _ in range(5)] == [200] * 5
    assert alice("GET", "/usage")[0] == 200
