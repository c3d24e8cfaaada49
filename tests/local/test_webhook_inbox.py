"""The local webhook inbox verifies every delivery as an integration should:
what the delivery function signs is accepted; a tampered body, another
secret, a missing header or a stale timestamp is refused with 400."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import requests

from contract.webhooks import SECRET_PREFIX
from local.webhook_inbox import WebhookInbox
from tests.local.webhooks import detail
from workers.webhooks.delivery import Delivery, signed_headers


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


@pytest.fixture
def inbox():
    inbox = WebhookInbox()
    inbox.secret = new_secret()
    inbox.start()
    yield inbox
    inbox.stop()


def delivery() -> Delivery:
    return Delivery("inbox", {"version": "0", "id": "x", "detail-type": "File Processed", "source": "uploads",
                              "time": "2026-12-05T12:00:00Z", "detail": detail()})


def post(inbox: WebhookInbox, body: str, headers: dict) -> requests.Response:
    return requests.post(inbox.url, data=body.encode(), headers=headers, timeout=5)


def test_a_signed_delivery_is_accepted_and_shown(inbox):
    sent = delivery()
    assert post(inbox, sent.body, signed_headers(inbox.secret, sent, datetime.now(UTC))).status_code == 204
    shown = requests.get(inbox.url + "/events", timeout=5).json()["received"]
    assert shown[0]["webhookId"] == sent.event_id and shown[0]["event"] == sent.event
    assert not shown[0]["duplicate"]
    assert sent.event_id in requests.get(inbox.url, timeout=5).text


def test_the_same_event_again_is_accepted_and_marked_a_duplicate(inbox):
    sent = delivery()
    for _ in range(2):
        assert post(inbox, sent.body, signed_headers(inbox.secret, sent, datetime.now(UTC))).status_code == 204
    assert [r["duplicate"] for r in inbox.snapshot()["received"]] == [True, False]


@pytest.mark.parametrize("tamper", ["body", "secret", "stale", "future", "unsigned"])
def test_a_delivery_that_fails_verification_is_refused(inbox, tamper):
    sent = delivery()
    now = datetime.now(UTC)
    at = now - timedelta(minutes=6) if tamper == "stale" else now + timedelta(minutes=6) if tamper == "future" else now
    headers = signed_headers(new_secret() if tamper == "secret" else inbox.secret, sent, at)
    body = sent.body
    if tamper == "body":
        event = json.loads(body)
        event["detail"]["size"] += 1
        body = json.dumps(event, separators=(",", ":"))
    if tamper == "unsigned":
        del headers["webhook-signature"]

    answer = post(inbox, body, headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_signature"
    assert inbox.snapshot()["received"] == [] and len(inbox.snapshot()["rejected"]) == 1
