"""Serves the dashboard (`web/`) as CloudFront serves it in AWS: the static files,
a `config.json` generated from the stack's outputs, and the same security headers."""

from __future__ import annotations

import json
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from contract.http import dashboard_csp
from local.serving import BackgroundServer, Served

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


class Dashboard(Served):
    """Bound at construction, so its origin is known before what must name it
    exists; serving starts once the config it hands out is complete."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config: dict = {}
        self.headers: dict[str, str] = {}
        self._server = BackgroundServer(partial(_Handler, self, directory=str(WEB_DIR)), host, port, "dashboard")

    @property
    def url(self) -> str:
        # The origin a developer types; CORS and the Hosted UI's callback name it.
        return f"http://localhost:{self._server.port}"

    def serve(self, config: dict, connect_sources: list[str], image_sources: list[str]) -> None:
        self.config = config
        self.headers = {
            "Content-Security-Policy": dashboard_csp(connect_sources, image_sources),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        }
        self.start()


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def __init__(self, dashboard: Dashboard, *args, **kwargs) -> None:
        self.dashboard = dashboard
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:
        pass

    def end_headers(self) -> None:
        for name, value in self.dashboard.headers.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/config.json":
            body = json.dumps(self.dashboard.config).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()
