"""Every emulated endpoint's server: a caller that hangs up is not an error."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from local.serving import AnyMethodHandler, BackgroundServer


class Answers(AnyMethodHandler):
    def _serve(self) -> None:
        if self.path == "/broken":
            raise ValueError("the endpoint's own fault")
        time.sleep(0.2)  # the caller is gone by the time the answer goes
        body = b"x" * (4 << 20)
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    served = BackgroundServer(Answers, "127.0.0.1", 0, "test-serving")
    served.start()
    yield served
    served.stop()


def _hang_up_on(server: BackgroundServer, path: str) -> None:
    caller = socket.create_connection(("127.0.0.1", server.port))
    caller.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    # Closed with a reset, as a client that timed out or died leaves it.
    caller.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    caller.close()
    time.sleep(0.6)


def test_a_caller_that_hangs_up_leaves_no_traceback(server, capfd):
    _hang_up_on(server, "/big")
    assert "Traceback" not in capfd.readouterr().err


def test_the_endpoints_own_faults_are_still_reported(server, capfd):
    _hang_up_on(server, "/broken")
    assert "ValueError: the endpoint's own fault" in capfd.readouterr().err
