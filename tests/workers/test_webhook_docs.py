"""docs/events.md's two ways to verify a delivery, run as written against
requests the delivery function signs: each accepts what was sent and refuses
a changed body or a stale timestamp."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import WebhookVerificationError

from contract.webhooks import SECRET_PREFIX
from tests.local.webhooks import detail
from workers.webhooks.delivery import Delivery, signed_headers

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
SECRET = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def snippet(language: str) -> str:
    section = DOC.read_text().split("### Verifying a signature", 1)[1]
    return re.search(rf"```{language}\n(.*?)\n```", section, re.S).group(1)


def deliveries() -> dict[str, tuple[dict, str]]:
    """(headers, body) by case: as signed, the body changed, signed six minutes ago."""
    sent = Delivery("docs", {"version": "0", "id": "1", "detail-type": "File Processed", "source": "uploads",
                             "time": "2026-12-05T12:00:00Z", "detail": detail()})
    now = datetime.now(UTC)
    tampered = sent.body.replace('"size":5', '"size":6')
    assert tampered != sent.body
    return {
        "signed": (signed_headers(SECRET, sent, now), sent.body),
        "tampered": (signed_headers(SECRET, sent, now), tampered),
        "stale": (signed_headers(SECRET, sent, now - timedelta(minutes=6)), sent.body),
    }


def test_the_python_snippet_accepts_a_delivery_and_refuses_a_changed_or_stale_one():
    scope: dict = {}
    exec(snippet("python"), scope)
    cases = deliveries()
    headers, body = cases["signed"]
    assert scope["verified_event"](SECRET, headers, body.encode()) == json.loads(body)
    for case in ("tampered", "stale"):
        headers, body = cases[case]
        with pytest.raises(WebhookVerificationError):
            scope["verified_event"](SECRET, headers, body.encode())


def test_the_node_snippet_accepts_a_delivery_and_refuses_a_changed_or_stale_one(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so the Node snippet cannot run here")
    script = tmp_path / "verify.js"
    script.write_text(snippet("js") + """
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const results = {};
for (const [name, [headers, body]] of Object.entries(cases.requests)) {
  try { results[name] = verifiedEvent(cases.secret, headers, body).detail.eventId; }
  catch (error) { results[name] = "refused: " + error.message; }
}
console.log(JSON.stringify(results));
""")
    cases = deliveries()
    ran = subprocess.run([node, str(script)], input=json.dumps({"secret": SECRET, "requests": cases}),
                         capture_output=True, text=True, timeout=30, check=True)
    results = json.loads(ran.stdout)
    assert results["signed"] == json.loads(cases["signed"][1])["detail"]["eventId"]
    assert results["tampered"] == "refused: no matching signature"
    assert results["stale"] == "refused: stale timestamp"
