"""An HTTP server on a daemon thread, as each emulated endpoint of the local stack runs."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A caller that hangs up (a read timeout, a crashed function's pooled
        # connection, a browser cancelling a fetch) is the caller's business:
        # AWS just stops talking, and so does the endpoint, without a traceback.
        if isinstance(sys.exception(), ConnectionError):
            return
        super().handle_error(request, client_address)


class BackgroundServer:
    """Bound at construction (port 0 picks a free one), so its address is known
    before it serves."""

    def __init__(self, handler: Callable[..., BaseHTTPRequestHandler], host: str, port: int, name: str) -> None:
        self._server = _Server((host, port), handler)
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()


class AnyMethodHandler(BaseHTTPRequestHandler):
    """Sends every method (`do_QUERY` included) to `_serve`, which decides what
    the endpoint answers, and logs nothing itself: `_serve` logs one line that
    leaves out the query string, where cursors and signatures travel."""

    def _serve(self) -> None:
        raise NotImplementedError

    def __getattr__(self, name: str):
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args) -> None:
        pass


class Served:
    """An emulated endpoint that serves through the BackgroundServer it holds as `_server`."""

    _server: BackgroundServer

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


def end_process(process: subprocess.Popen) -> None:
    """Terminate a server process, and kill it if it does not go: one still
    busy with queued requests must not keep the stack up."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
