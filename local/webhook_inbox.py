"""The local webhook inbox: a receiver `make dev` registers as the local
stack's webhook endpoint, so a developer can watch what an integration would
be sent.

Every POST is verified as a receiver should (Standard Webhooks, with the
reference library an integration would use): the signature over
`id.timestamp.body` with the endpoint's secret, and a timestamp within five
minutes. A tampered body, a wrong or missing signature or a stale timestamp
is refused with 400 and listed as rejected; a verified delivery is answered
204 and listed, a repeated `webhook-id` marked as a duplicate (a retry or a
redrive of the same event). `GET /` shows them on a page; `GET /events` as JSON.
"""

from __future__ import annotations

import html
import json
import threading
from collections import deque
from datetime import UTC, datetime

from standardwebhooks import Webhook, WebhookVerificationError

from local.serving import AnyMethodHandler, BackgroundServer, Served

# What the page and the JSON keep: the latest deliveries.
KEEP = 200
MAX_BODY = 1024 * 1024


class WebhookInbox(Served):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, keep: int | None = KEEP) -> None:
        """`keep`: the latest deliveries kept of each kind; None keeps all (a run that counts them)."""
        # Known only once the stack has generated it into SSM.
        self.secret: str | None = None
        self.received: deque[dict] = deque(maxlen=keep)
        self.rejected: deque[dict] = deque(maxlen=keep)
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        inbox = self

        class Handler(AnyMethodHandler):
            def _serve(self) -> None:
                inbox._handle(self)

        self._server = BackgroundServer(Handler, host, port, "webhook-inbox")

    def receive(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict | None]:
        """Verifies one delivery and records it: (status, error body or None)."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        if self.secret is None:
            return 503, _error("not_ready", "the inbox has no secret yet")
        try:
            event = Webhook(self.secret).verify(body, headers)
        except (WebhookVerificationError, ValueError) as failure:
            with self._lock:
                self.rejected.appendleft({"receivedAt": now, "webhookId": headers.get("webhook-id"),
                                          "reason": str(failure)})
            return 400, _error("invalid_signature", str(failure))
        webhook_id = headers["webhook-id"]
        with self._lock:
            self.received.appendleft({"receivedAt": now, "webhookId": webhook_id,
                                      "duplicate": webhook_id in self._seen, "event": event})
            self._seen.add(webhook_id)
        return 204, None

    def snapshot(self) -> dict:
        with self._lock:
            return {"received": list(self.received), "rejected": list(self.rejected)}

    def _handle(self, request: AnyMethodHandler) -> None:
        if request.command == "POST":
            length = int(request.headers.get("content-length") or 0)
            if length > MAX_BODY:
                return _answer(request, 413, _error("too_large", f"bodies up to {MAX_BODY} bytes"))
            body = request.rfile.read(length)
            headers = {name.lower(): value for name, value in request.headers.items()}
            return _answer(request, *self.receive(body, headers))
        if request.command != "GET":
            return _answer(request, 405, _error("method_not_allowed", "GET or POST"))
        if request.path == "/events":
            return _answer(request, 200, self.snapshot())
        if request.path == "/":
            return _answer(request, 200, None, self.page().encode(), "text/html; charset=utf-8")
        return _answer(request, 404, _error("not_found", "GET / or /events; POST deliveries to /"))

    def page(self) -> str:
        snapshot = self.snapshot()
        rows = "".join(
            f"<tr><td>{html.escape(r['receivedAt'])}</td><td>{html.escape(str(r['event'].get('detail-type')))}</td>"
            f"<td><code>{html.escape(r['webhookId'])}</code>{' (duplicate)' if r['duplicate'] else ''}</td>"
            f"<td><pre>{html.escape(json.dumps(r['event'].get('detail'), indent=1))}</pre></td></tr>"
            for r in snapshot["received"])
        rejected = "".join(
            f"<li>{html.escape(r['receivedAt'])} <code>{html.escape(str(r['webhookId']))}</code>: "
            f"{html.escape(r['reason'])}</li>" for r in snapshot["rejected"])
        return (
            "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=3>"
            "<title>Webhook inbox</title><style>body{font-family:sans-serif}td,th{border-bottom:1px solid #ddd;"
            "padding:4px;vertical-align:top;text-align:left}table{table-layout:fixed;width:100%}"
            "th:nth-child(-n+3){width:14em}code{overflow-wrap:anywhere}"
            "pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}</style></head><body>"
            f"<h1>Webhook inbox</h1><p>{len(snapshot['received'])} verified, {len(snapshot['rejected'])} rejected "
            "(newest first; <a href=/events>JSON</a>)</p>"
            f"<table><tr><th>received</th><th>type</th><th>webhook-id</th><th>detail</th></tr>{rows}</table>"
            f"<h2>Rejected</h2><ul>{rejected}</ul></body></html>"
        )


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _answer(request: AnyMethodHandler, status: int, document: dict | None, body: bytes | None = None,
            content_type: str = "application/json") -> None:
    if body is None:
        body = json.dumps(document).encode() if document is not None else b""
    request.send_response(status)
    if body:
        request.send_header("content-type", content_type)
    request.send_header("content-length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)
