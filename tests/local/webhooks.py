"""Webhook receivers and events for tests that run a local stack with endpoints."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from contract.events import EVENT_SOURCE, FILE_PROCESSED
from local.serving import AnyMethodHandler, BackgroundServer, Served


class Receiver(Served):
    """An integration's endpoint that answers as told: the statuses in
    `failures` first, then 204, each after `delay_s`; while `down`, it drops
    every connection unanswered. It keeps every request it got, in order."""

    def __init__(self, failures: tuple[int, ...] = (), delay_s: float = 0.0) -> None:
        self.failures = list(failures)
        self.delay_s = delay_s
        self.down = False
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(AnyMethodHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    if receiver.down:
                        self.close_connection = True
                        return
                    receiver.requests.append({"at": time.monotonic(), "body": body,
                                              "headers": {k.lower(): v for k, v in self.headers.items()}})
                    status = receiver.failures.pop(0) if receiver.failures else 204
                time.sleep(receiver.delay_s)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", "/elsewhere")
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = BackgroundServer(Handler, "127.0.0.1", 0, "receiver")

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@contextmanager
def running(*names: str) -> Iterator[dict[str, Receiver]]:
    """A started receiver for each name, stopped on the way out."""
    started = {name: Receiver() for name in names}
    for receiver in started.values():
        receiver.start()
    try:
        yield started
    finally:
        for receiver in started.values():
            receiver.stop()


def detail(**fields) -> dict:
    """A detail with every common field (contract/events.py), as the producer puts it."""
    file_id = fields.pop("fileId", uuid.uuid4().hex)
    return {
        "eventId": uuid.uuid4().hex, "fileId": file_id, "owner": "ida", "key": f"incoming/ida/{file_id}/a.txt",
        "version": "v1", "size": 5, "sha256": "0" * 64, "kind": "text", "status": "processed",
        "occurredAt": datetime.now(UTC).isoformat(), "sequence": f"{time.time_ns():032x}", **fields,
    }


def put_event(stack, detail_type: str = FILE_PROCESSED, **fields) -> dict:
    """One lifecycle event on the stack's bus, as the producer puts it; its detail."""
    body = detail(**fields)
    answer = stack.events().put_events(Entries=[{"Source": EVENT_SOURCE, "DetailType": detail_type,
                                                 "Detail": json.dumps(body), "EventBusName": stack.names.event_bus}])
    assert answer["FailedEntryCount"] == 0, answer
    return body
