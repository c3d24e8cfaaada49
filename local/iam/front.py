"""The front every non-S3 AWS call of the local stack goes through
(`AWS_ENDPOINT_URL`): DynamoDB and its streams, SQS, SSM, Secrets Manager,
Cognito, CloudWatch and its Logs, STS, GuardDuty, EventBridge.

For each request it:

1. identifies the caller from the SigV4 `Authorization` header: the access
   key names the principal (local/iam/authority.py), and the signature is
   recomputed with botocore's own signer and that principal's secret, at the
   request's own time (15 minutes of skew at most);
2. identifies the service (the credential scope's signing name) and the
   operation, with botocore's service model, by the protocol the request
   speaks: `X-Amz-Target` for JSON (DynamoDB, SQS, SSM, Cognito, and
   CloudWatch as boto3 1.43 calls it), the URL path for Smithy RPC v2 CBOR,
   `Action` for the query protocol (STS);
3. computes the IAM action(s) and resource ARN(s) from the call's own
   parameters (local/iam/services.py), evaluates the caller's identity policy,
   records each decision, and answers a refusal in the service's own error
   shape before moto ever sees the request; an operation it cannot classify
   is refused with a message that says so.

Calls that AWS serves without credentials pass unsigned, as AWS serves them:
the Cognito operations the model marks as needing no auth (InitiateAuth,
RespondToAuthChallenge, RevokeToken, ...) and a user pool's JWKS and OpenID
configuration. Any other unsigned call is refused.

Error shapes: JSON protocols answer `{"__type": ..., "message": ...}` (SQS,
query-compatible, adds `x-amzn-query-error: AccessDenied;Sender`, the code
botocore reports); CBOR answers the same map in CBOR; the query protocol an
`<ErrorResponse>`. Access denied is `AccessDeniedException` with HTTP 400 for
DynamoDB, SQS, SSM and Cognito (each API's "Common Errors"), `AccessDenied`
403 for CloudWatch's query-compatible code.
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

import botocore.session
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import RpcV2CBORParser

from local.iam.authority import Authority, Principal
from local.iam.services import Unclassified, Where, checks
from local.serving import AnyMethodHandler, BackgroundServer, Served

log = logging.getLogger("local.iam.front")

# The services the local stack serves here, by botocore name.
# DynamoDB before DynamoDB Streams: both sign as "dynamodb", and the target prefix tells them apart.
SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "ssm", "secretsmanager", "cognito-idp", "cloudwatch", "sts",
            "guardduty", "events", "logs")
MAX_BODY = 16 * 1024 * 1024
MAX_CLOCK_SKEW = timedelta(minutes=15)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
# A user pool's public endpoints, which AWS serves to anyone.
_PUBLIC_PATH = re.compile(r"/[\w-]+_[0-9A-Za-z]+/\.well-known/(jwks\.json|openid-configuration)")
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)")
# (error code, HTTP status) for an IAM refusal, by service.
_ACCESS_DENIED = {
    "dynamodb": ("com.amazonaws.dynamodb.v20120810#AccessDeniedException", 400),
    "sqs": ("com.amazon.coral.service#AccessDeniedException", 400),
    "cloudwatch": ("com.amazon.coral.service#AccessDeniedException", 403),
}
# What query-compatible services (SQS, CloudWatch) name the same errors.
_QUERY_CODES = {"AccessDeniedException": "AccessDenied", "UnrecognizedClientException": "InvalidClientTokenId",
                "InvalidSignatureException": "SignatureDoesNotMatch",
                "MissingAuthenticationTokenException": "MissingAuthenticationToken"}


@dataclass(frozen=True)
class Call:
    """A call the front let through."""
    service: str
    operation: str
    params: dict[str, Any]


@dataclass
class Refused(Exception):
    code: str
    status: int
    message: str


@dataclass(frozen=True)
class _Service:
    name: str  # botocore's name, "cloudwatch"
    model: Any

    @property
    def query_compatible(self) -> bool:
        return "awsQueryCompatible" in self.model.metadata


@cache
def _services() -> dict[str, _Service]:
    """By signing name ("monitoring" is CloudWatch) and by JSON target prefix."""
    session = botocore.session.get_session()
    found = {}
    for name in SERVICES:
        model = session.get_service_model(name)
        service = _Service(name, model)
        found.setdefault(model.signing_name, service)
        if model.metadata.get("targetPrefix"):
            found[model.metadata["targetPrefix"]] = service
    return found


_CBOR_PATH = re.compile(r"/service/[^/]+/operation/([^/?]+)")


def _protocol(path: str, headers: Mapping[str, str]) -> str:
    """What the request speaks (a service may accept several: CloudWatch takes
    CBOR, JSON and query)."""
    if "x-amz-target" in headers:
        return "json"
    if _CBOR_PATH.fullmatch(urlsplit(path).path) or headers.get("smithy-protocol") == "rpc-v2-cbor":
        return "smithy-rpc-v2-cbor"
    return "query"


def _cbor(value: Mapping[str, str]) -> bytes:
    """A map of text to text, in CBOR (RFC 8949): all an error body needs."""
    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if length < 1 << (8 * size):
                return bytes([major << 5 | info]) + length.to_bytes(size, "big")
        raise ValueError("too long")

    def text(item: str) -> bytes:
        encoded = item.encode()
        return head(3, len(encoded)) + encoded

    return head(5, len(value)) + b"".join(text(k) + text(v) for k, v in value.items())


class AwsFront(Served):
    def __init__(self, upstream: str, authority: Authority, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port)
        self.authority = authority
        # (service, operation) -> what answers it instead of moto: (status, JSON body) for the call's params.
        self.emulated: dict[tuple[str, str], Callable[[dict[str, Any]], tuple[int, Any]]] = {}
        self._server = BackgroundServer(_handler_class(self), host, port, "aws-front")

    # --- Deciding ---------------------------------------------------------------------------------

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Call | None:
        """Raises Refused when the call must not reach moto; the call it let
        through, when it was signed."""
        authorization = headers.get("authorization")
        if authorization is None:
            self._check_unsigned(method, path, headers)
            return None
        match = _AUTHORIZATION.fullmatch(authorization.strip())
        if match is None:
            raise Refused("IncompleteSignature", 400, "The request signature does not conform to AWS standards.")
        credential, signed_headers, provided = match.groups()
        try:
            access_key, date, region, signing_name, terminator = credential.split("/")
        except ValueError:
            raise Refused("IncompleteSignature", 400, "The credential scope is malformed.") from None
        service = _services().get(signing_name)
        by_target = _services().get(headers.get("x-amz-target", "").rpartition(".")[0])
        if by_target is not None and by_target.model.signing_name == signing_name:
            service = by_target
        if service is None or terminator != "aws4_request":
            raise Refused("UnrecognizedClientException", 400,
                          f"The local stack serves no AWS service signed as {signing_name!r} here.")
        principal = self.authority.principal(access_key)
        if principal is None:
            raise Refused("UnrecognizedClientException", 400, "The security token included in the request is invalid.")
        self._verify(principal, method, path, headers, body, signed_headers, provided, region, signing_name)
        protocol = "rest-json" if service.model.metadata["protocol"] == "rest-json" else _protocol(path, headers)
        operation = self._operation(service, protocol, path, headers, body, method)
        params = self._params(service, protocol, body)
        try:
            asked = checks(service.name, operation, params, Where(region, self.authority.account))
        except Unclassified as unclassified:
            message = self.authority.refuse_unclassified(principal, service.name, operation, str(unclassified))
            raise Refused("UnclassifiedOperation", 400, message) from unclassified
        refusal = self.authority.decide(principal, asked, service=service.name, operation=operation)
        if refusal is not None:
            code, status = _ACCESS_DENIED.get(service.name, ("AccessDeniedException", 400))
            raise Refused(code, status, refusal.message)
        return Call(service.name, operation, params)

    def _check_unsigned(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        if method in ("GET", "HEAD") and _PUBLIC_PATH.fullmatch(urlsplit(path).path):
            return
        target = headers.get("x-amz-target", "")
        prefix, _, operation = target.rpartition(".")
        service = _services().get(prefix)
        if service is not None and operation in service.model.operation_names \
                and service.model.operation_model(operation).auth_type == "none":
            return
        raise Refused("MissingAuthenticationTokenException", 400, "Missing Authentication Token")

    def _verify(self, principal: Principal, method: str, path: str, headers: Mapping[str, str], body: bytes,
                signed_headers: str, provided: str, region: str, signing_name: str) -> None:
        timestamp = headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(timestamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
        except ValueError:
            raise Refused("IncompleteSignature", 400, "X-Amz-Date is missing or malformed.") from None
        if abs(datetime.now(UTC) - signed_at) > MAX_CLOCK_SKEW:
            raise Refused("InvalidSignatureException", 400, f"Signature expired: {timestamp} is now earlier or later "
                                                            "than 15 min from the current time.")
        host = headers.get("host", "")
        request = AWSRequest(method=method, url=f"http://{host}{path}", data=body,
                             headers={name: headers.get(name, "") for name in signed_headers.split(";")
                                      if name and name != "host"})
        request.context["timestamp"] = timestamp
        signer = SigV4Auth(Credentials(principal.access_key, principal.secret_key), signing_name, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, provided):
            raise Refused("InvalidSignatureException", 400,
                          "The request signature we calculated does not match the signature you provided.")

    @staticmethod
    def _operation(service: _Service, protocol: str, path: str, headers: Mapping[str, str], body: bytes,
                   method: str = "POST") -> str:
        if protocol == "rest-json":
            # Operations without path parameters, the only ones served here: matched by method and path.
            target = urlsplit(path).path
            operation = next((name for name in service.model.operation_names
                              if service.model.operation_model(name).http.get("method") == method
                              and service.model.operation_model(name).http.get("requestUri") == target), "")
        elif protocol == "json":
            prefix, _, operation = headers.get("x-amz-target", "").rpartition(".")
            if prefix != service.model.metadata.get("targetPrefix"):
                raise Refused("UnknownOperationException", 400, f"{service.name}: no such target")
        elif protocol == "smithy-rpc-v2-cbor":
            match = _CBOR_PATH.fullmatch(urlsplit(path).path)
            operation = match.group(1) if match else ""
        else:
            operation = dict(parse_qsl(body.decode("utf-8", "replace"))).get("Action", "")
        if protocol not in service.model.metadata.get("protocols", [service.model.metadata["protocol"]]):
            raise Refused("UnknownOperationException", 400, f"{service.name} does not speak {protocol}")
        if operation not in service.model.operation_names:
            raise Refused("UnknownOperationException", 400, f"{service.name} has no operation {operation!r}")
        return operation

    @staticmethod
    def _params(service: _Service, protocol: str, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        try:
            if protocol in ("json", "rest-json"):
                return json.loads(body)
            if protocol == "smithy-rpc-v2-cbor":
                parser = RpcV2CBORParser()
                return parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))
            return dict(parse_qsl(body.decode("utf-8", "replace")))
        except Exception:
            raise Refused("SerializationException", 400, f"{service.name}: the request body does not parse") \
                from None

    # --- Answering ----------------------------------------------------------------------------

    def error(self, refused: Refused, path: str,
              headers: Mapping[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) of a refusal, in the protocol the request used."""
        request_id = str(uuid.uuid4())
        answer = [("x-amzn-RequestId", request_id)]
        service = None
        scope = _AUTHORIZATION.fullmatch((headers.get("authorization") or "").strip())
        if scope:
            service = _services().get(scope.group(1).split("/")[3] if scope.group(1).count("/") == 4 else "")
        elif headers.get("x-amz-target"):
            service = _services().get(headers["x-amz-target"].rpartition(".")[0])
        short = refused.code.rsplit("#", 1)[-1]
        protocol = _protocol(path, headers)
        if service is not None and service.query_compatible and protocol != "query":
            answer.append(("x-amzn-query-error", f"{_QUERY_CODES.get(short, short)};Sender"))
        if protocol == "smithy-rpc-v2-cbor":
            body = _cbor({"__type": refused.code, "message": refused.message})
            answer += [("content-type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        elif protocol == "query":
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(_QUERY_CODES.get(short, short))}</Code>"
                    f"<Message>{escape(refused.message)}</Message></Error><RequestId>{request_id}</RequestId>"
                    "</ErrorResponse>").encode()
            answer.append(("content-type", "text/xml"))
        else:
            version = service.model.metadata.get("jsonVersion", "1.0") if service else "1.0"
            body = json.dumps({"__type": refused.code, "message": refused.message}).encode()
            answer.append(("content-type", f"application/x-amz-json-{version}"))
        return refused.status, answer, body

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes):
        connection = http.client.HTTPConnection(*self._upstream, timeout=120)
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        if body:
            connection.send(body)
        response = connection.getresponse()
        try:
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()


def _handler_class(front: AwsFront) -> type[BaseHTTPRequestHandler]:
    class Handler(AnyMethodHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = self.headers.get("content-length")
            if length is not None and (not length.strip().isdigit() or int(length) > MAX_BODY):
                self.close_connection = True
                return self._answer(400, [("content-type", "application/json")],
                                    b'{"__type": "SerializationException", "message": "Bad Content-Length"}')
            body = self.rfile.read(int(length)) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                call = front.check(self.command, self.path, headers, body)
            except Refused as refused:
                log.info("%s %s refused: %s", self.command, urlsplit(self.path).path, refused.code)
                return self._answer(*front.error(refused, self.path, headers))
            emulated = front.emulated.get((call.service, call.operation)) if call else None
            if emulated is not None:
                # AWS's own work that moto does not do (local/guardduty.py): the emulator answers.
                status, answer = emulated(call.params)
                return self._answer(status, [("content-type", "application/json")], json.dumps(answer).encode())
            try:
                status, reason, answer_headers, answer = front.forward(self.command, self.path,
                                                                       list(self.headers.items()), body)
            except OSError:
                log.exception("moto did not answer %s %s", self.command, urlsplit(self.path).path)
                return self._answer(503, [("content-type", "application/json")],
                                    b'{"__type": "ServiceUnavailable", "message": "moto did not answer"}')
            self._answer(status, [(n, v) for n, v in answer_headers
                                  if n.lower() not in _HOP_BY_HOP and n.lower() != "content-length"], answer, reason)

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes, reason: str | None = None) -> None:
            self.send_response_only(status, reason)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
