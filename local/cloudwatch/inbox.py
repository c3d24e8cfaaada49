"""The local on-call inbox: an HTTP endpoint subscribed to the alarm topic,
as an on-call tool's webhook would be. It keeps every delivery exactly as SNS
posts it (`Type`, `MessageId`, `TopicArn`, `Subject`, `Message`, ...), one JSON
document a line, in the stack's state directory."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from local.serving import AnyMethodHandler, BackgroundServer, Served


class Inbox(Served):
    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self._lock = threading.Lock()
        self._server = BackgroundServer(_handler(self), host, port, "oncall-inbox")

    def deliver(self, body: bytes) -> None:
        document = json.loads(body)
        with self._lock, open(self.path, "a") as inbox:
            inbox.write(json.dumps(document) + "\n")

    def notifications(self) -> list[dict]:
        return read(self.path)


def read(path: Path) -> list[dict]:
    """The alarm notifications delivered so far, each with its `Message` parsed."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        delivery = json.loads(line)
        if delivery.get("Type") == "Notification":
            found.append({**delivery, "Message": json.loads(delivery["Message"])})
    return found


def _handler(inbox: Inbox) -> type:
    class Handler(AnyMethodHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                inbox.deliver(self.rfile.read(length))
                self.send_response(200)
            except ValueError:
                self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
