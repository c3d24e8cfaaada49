"""API Gateway's HTTP API, emulated: what happens between a client and the API function.

- Routes exactly `API_ROUTES`; anything else is 404 `{"message":"Not Found"}`.
  A request whose Content-Length is not a length is 400 `{"message":"Bad Request"}`.
- CORS for the dashboard's origin, answered by the gateway: preflights never
  reach the function, and the function's own CORS headers are replaced.
- The JWT authorizer: the token's signature against the issuer's JWKS, `iss`,
  `aud` (or `client_id` when there is no `aud`), `exp`, `nbf` and `iat`. Any
  failure is 401 `{"message":"Unauthorized"}` and the function is not invoked.
- A payload format 2.0 event, invoked in a Lambda execution environment (one
  invocation at a time per environment, like Lambda), and the function's
  response mapped back onto HTTP.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt

from contract.http import (
    API_CORS_ALLOW_HEADERS,
    API_CORS_ALLOW_METHODS,
    API_CORS_EXPOSE_HEADERS,
    API_CORS_MAX_AGE_S,
    API_ROUTES,
)
from local.runtime import ACCOUNT_ID, ExecutionEnvironment
from local.serving import AnyMethodHandler, BackgroundServer, Served

log = logging.getLogger("local.gateway")

API_ID = "local"
_UNAUTHORIZED = {"message": "Unauthorized"}
_NOT_FOUND = {"message": "Not Found"}
_FAILED = {"message": "Internal Server Error"}
_BAD_REQUEST = {"message": "Bad Request"}
# API Gateway hands these to the function as text; every other body is base64.
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded")
_TEXT_SUFFIXES = ("+json", "+xml")


# --- Routing ----------------------------------------------------------------------


def match_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """(route key, path parameters) for a request, or None when no route matches."""
    segments = path.split("/")
    for route_key in API_ROUTES:
        route_method, route_path = route_key.split(" ", 1)
        pattern = route_path.split("/")
        if route_method != method or len(pattern) != len(segments):
            continue
        params: dict[str, str] = {}
        for expected, actual in zip(pattern, segments, strict=True):
            if expected.startswith("{") and expected.endswith("}"):
                if not actual:
                    break
                params[expected[1:-1]] = unquote(actual)
            elif expected != actual:
                break
        else:
            return route_key, params
    return None


# --- The JWT authorizer -------------------------------------------------------------


class JwtAuthorizer:
    """API Gateway's JWT authorizer: an issuer and the audiences it accepts.

    `jwks_url` is where the issuer's keys are fetched. In AWS that is discovered
    from the issuer URL; locally the issuer's host is the emulator's endpoint.
    """

    def __init__(self, issuer: str, audiences: list[str], jwks_url: str) -> None:
        self.issuer = issuer
        self.audiences = set(audiences)
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True)

    def claims(self, authorization: str | None) -> dict[str, Any] | None:
        """The verified claims of the request's token, or None for any failure."""
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").strip()
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                # The audience rule is API Gateway's own (aud, else client_id), checked below;
                # PyJWT checks exp, nbf and iat (not in the future), and these must be present.
                options={"verify_aud": False, "require": ["exp", "iat", "iss", "sub"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            log.info("rejected a token: %s", type(exc).__name__)
            return None
        audience = claims.get("aud", claims.get("client_id"))
        # Only strings name an audience: any other value in a signed token matches
        # nothing, instead of failing the request without an answer.
        audiences = {a for a in (audience if isinstance(audience, list) else [audience]) if isinstance(a, str)}
        if not audiences & self.audiences:
            log.info("rejected a token: audience")
            return None
        return claims


def claim_value(value: Any) -> str:
    """API Gateway passes every claim as a string; arrays look like `[a b]`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + " ".join(claim_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# --- Payload format 2.0 -------------------------------------------------------------


def _is_text(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base.startswith(_TEXT_TYPES) or base.endswith(_TEXT_SUFFIXES)


def api_event(
    *,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    claims: dict[str, Any],
    source_ip: str,
) -> dict[str, Any]:
    """The event API Gateway sends a Lambda integration (payload format 2.0)."""
    route = match_route(method, path)
    route_key, path_parameters = route if route else ("$default", {})
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        # Repeated headers arrive as one comma-joined value.
        merged[name] = f"{merged[name]},{value}" if name in merged else value
    query_parameters: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        query_parameters[name] = f"{query_parameters[name]},{value}" if name in query_parameters else value

    now = datetime.now(UTC)
    domain = merged.get("host", f"{API_ID}.execute-api.local")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "authorizer": {
                "jwt": {
                    "claims": {name: claim_value(value) for name, value in claims.items()},
                    "scopes": claims["scope"].split() if isinstance(claims.get("scope"), str) else None,
                }
            },
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query_parameters:
        event["queryStringParameters"] = query_parameters
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        text = _is_text(merged.get("content-type", ""))
        try:
            event["body"] = body.decode() if text else base64.b64encode(body).decode()
        except UnicodeDecodeError:
            text = False
            event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = not text
    return event


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_response(status: int, payload: dict) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(payload).encode())


def http_response(result: Any) -> HttpResponse:
    """The function's return value as API Gateway turns it into HTTP (format 2.0)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # Format 2.0 treats anything else as a JSON body with status 200.
        return HttpResponse(200, [("content-type", "application/json")], json.dumps(result).encode())
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = [(name.lower(), str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("set-cookie", cookie) for cookie in result.get("cookies") or []]
    return HttpResponse(int(result["statusCode"]), headers, raw)


# --- The server ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cors:
    origins: tuple[str, ...]
    allow_headers: tuple[str, ...] = API_CORS_ALLOW_HEADERS
    allow_methods: tuple[str, ...] = API_CORS_ALLOW_METHODS
    expose_headers: tuple[str, ...] = API_CORS_EXPOSE_HEADERS
    max_age_s: int = API_CORS_MAX_AGE_S

    def preflight(self, origin: str | None) -> list[tuple[str, str]]:
        if origin not in self.origins:
            return []
        return self.simple(origin) + [
            ("access-control-allow-methods", ",".join(self.allow_methods)),
            ("access-control-allow-headers", ",".join(self.allow_headers)),
            ("access-control-max-age", str(self.max_age_s)),
        ]

    def simple(self, origin: str | None) -> list[tuple[str, str]]:
        if origin not in self.origins:
            return []
        return [("access-control-allow-origin", origin),
                ("access-control-expose-headers", ",".join(self.expose_headers)),
                ("vary", "origin")]


class Gateway(Served):
    def __init__(self, authorizer: JwtAuthorizer, cors: Cors, environments: list[ExecutionEnvironment],
                 host: str = "127.0.0.1", port: int = 0,
                 on_request: Callable[[int, float], None] | None = None) -> None:
        self.authorizer = authorizer
        self.cors = cors
        # Told each response's status and latency, as the API's metrics are (local/cloudwatch/).
        self.on_request = on_request
        # One invocation at a time per environment: a request waits for a free one,
        # as Lambda would start another (up to the concurrency given here).
        self._idle: queue.Queue[ExecutionEnvironment] = queue.Queue()
        self._environments = environments
        for environment in environments:
            self._idle.put(environment)
        self._server = BackgroundServer(_handler_class(self), host, port, "gateway")

    def stop(self) -> None:
        super().stop()
        for environment in self._environments:
            environment.stop()

    def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
               source_ip: str) -> HttpResponse:
        lowered = {name.lower(): value for name, value in headers}
        origin = lowered.get("origin")
        if method == "OPTIONS" and origin and "access-control-request-method" in lowered:
            return HttpResponse(204, self.cors.preflight(origin), b"")
        response = self._route(method, target, headers, body, source_ip, lowered.get("authorization"))
        # The gateway owns CORS: whatever the function said about it is replaced.
        kept = [(n, v) for n, v in response.headers if not n.startswith("access-control-")]
        return HttpResponse(response.status, kept + self.cors.simple(origin), response.body)

    def _route(self, method, target, headers, body, source_ip, authorization) -> HttpResponse:
        parts = urlsplit(target)
        if match_route(method, parts.path) is None:
            return _json_response(404, _NOT_FOUND)
        claims = self.authorizer.claims(authorization)
        if claims is None:
            return _json_response(401, _UNAUTHORIZED)
        event = api_event(method=method, path=parts.path, query=parts.query, headers=headers, body=body,
                          claims=claims, source_ip=source_ip)
        environment = self._idle.get()
        try:
            invocation = environment.invoke(event)
        finally:
            self._idle.put(environment)
        if invocation.failed:
            log.warning("invocation %s failed: %s", invocation.request_id, invocation.error)
            return _json_response(500, _FAILED)
        try:
            return http_response(invocation.response)
        except (TypeError, ValueError, KeyError):
            log.warning("invocation %s returned a malformed response", invocation.request_id)
            return _json_response(500, _FAILED)


def _content_length(header: str | None) -> int | None:
    """The body's length, or None when the header is not a length at all."""
    if header is None:
        return 0
    stripped = header.strip()
    return int(stripped) if stripped.isascii() and stripped.isdigit() else None


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(AnyMethodHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            started = time.monotonic()
            length = _content_length(self.headers.get("content-length"))
            if length is None:
                # The body's end is unknown, so the connection cannot carry another request.
                self.close_connection = True
                response = _json_response(400, _BAD_REQUEST)
            else:
                body = self.rfile.read(length) if length else b""
                response = gateway.handle(self.command, self.path, list(self.headers.items()), body,
                                          self.client_address[0])
            self.send_response(response.status)
            for name, value in response.headers:
                if name not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                try:
                    self.wfile.write(response.body)
                except ConnectionError:
                    # The client went away (a browser cancels a superseded fetch): nothing to answer.
                    self.close_connection = True
            latency_ms = (time.monotonic() - started) * 1000
            if gateway.on_request is not None:
                gateway.on_request(response.status, latency_ms)
            # The path only: query strings and headers may carry cursors or tokens.
            log.info("%s %s -> %s in %.0f ms", self.command, urlsplit(self.path).path, response.status, latency_ms)


    return Handler
