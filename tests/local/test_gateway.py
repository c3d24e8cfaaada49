"""The local gateway as an HTTP server: what it answers before any route or token matters."""

from __future__ import annotations

import json
import socket

import pytest

from local.gateway import Cors, Gateway, JwtAuthorizer


@pytest.fixture
def gateway():
    # No environments and an unreachable JWKS: nothing here may get that far.
    running = Gateway(JwtAuthorizer("https://issuer.invalid", ["client"], "http://127.0.0.1:9/jwks.json"),
                      Cors(origins=()), []).start()
    yield running
    running.stop()


def _exchange(gateway: Gateway, request: bytes) -> bytes:
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
        return answer


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1e3", b""])
def test_a_content_length_that_is_not_a_length_is_400_not_a_dropped_connection(gateway, length):
    answer = _exchange(gateway, b"POST /uploads HTTP/1.1\r\nHost: api\r\nContent-Length: " + length + b"\r\n\r\n{}")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body) == {"message": "Bad Request"}


def test_the_gateway_still_answers_after_a_bad_request(gateway):
    _exchange(gateway, b"POST /uploads HTTP/1.1\r\nHost: api\r\nContent-Length: abc\r\n\r\n")
    answer = _exchange(gateway, b"GET /nope HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404 ")
