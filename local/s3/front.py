"""The S3 front: every S3 client of the local stack reaches moto through it
(boto3's `AWS_ENDPOINT_URL_S3`). `S3Front.check` holds the request-handling
flow: authenticate (one of the three SigV4 forms, giving the principal), then
check what the request carries. What passes goes to moto byte for byte; where
S3 and moto would answer differently, the front answers as S3 does. What it
checks, with S3's documentation, is in docs/local-s3.md.

Deliberately not emulated: IAM and bucket policies (any request signed with
the stack's key is allowed; a session token is signed but not checked);
checksums no client of ours sends (`Content-MD5`, SHA-1, CRC32C, CRC64NVME, and
those of `aws-chunked` bodies, which moto decodes); SigV2, which is refused as
unauthenticated or malformed rather than with S3's `InvalidRequest`; part sizes
of multipart uploads (moto checks S3's 5 MiB minimum).
"""

from __future__ import annotations

import fnmatch
import http.client
import logging
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from local.iam.s3 import S3Authorizer, object_key
from local.s3 import checksums, post
from local.s3.errors import S3Error, access_denied, entity_too_large
from local.s3.multipart import MultipartChecks, with_composite
from local.s3.request import COPY_CHUNK, Request, copy
from local.s3.sigv4 import Signer
from local.serving import AnyMethodHandler, BackgroundServer, Served

log = logging.getLogger("local.s3")

# S3's largest single PUT, UploadPart or POST file.
MAX_UPLOAD = 5 * 1024**3
_SPOOL_IN_MEMORY = 1024 * 1024
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
               "expect"}


@dataclass(frozen=True)
class Checked:
    """What the front learnt from a request it let through."""
    principal: str | None = None
    sha256: bytes | None = None  # of the body it verified
    composite: str | None = None  # of the multipart upload it completes


class S3Front(Served):
    def __init__(self, upstream: str, iam: S3Authorizer, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port)
        self._iam = iam
        self._signer = Signer(iam.credentials)
        self._multipart = MultipartChecks()
        self._server = BackgroundServer(_handler_class(self), host, port, "s3-front")

    def check(self, request: Request) -> Checked:
        """Raises the S3Error S3 would answer this request with, if any."""
        if request.method == "OPTIONS":
            # A preflight never carries credentials, even for a presigned URL: the
            # browser sends the URL's query string, unsigned. moto answers it.
            return Checked()
        now = datetime.now(UTC)
        names = {name for name, _ in request.query}
        form = None
        if names & {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"}:
            principal = self._signer.check_query(request, now)
        elif request.header("authorization"):
            principal = self._signer.check_header(request, now)
        elif request.method == "POST" and "multipart/form-data" in (request.header("content-type") or ""):
            form = post.parse_form(request.body, request.length, request.header("content-type") or "")
            post.check_fields(form)
            principal = self._signer.check_post(form.fields)
        else:
            raise access_denied()
        # The signer is known (`principal`, its access key): what may it do? Presigned
        # URLs and POSTs act with the rights of the key that signed them (local/iam/s3.py).
        key = (form.fields["key"].replace("${filename}", form.filename) if form is not None
               else object_key(request.path, request.bucket, request.host))
        refused = self._iam.authorize(principal, request.method, request.bucket or None, key, request.query,
                                      request.headers, request.body, form_post=form is not None)
        if refused:
            raise S3Error(*refused)
        # What follows checks what it sends.
        if form is not None:
            return Checked(principal, self._check_form(request, form, now))
        sha256 = self._check_body(request)
        upload_id = request.param("uploadId")
        if request.method == "POST" and upload_id is not None:
            return Checked(principal, sha256, self._multipart.composite(upload_id, request.read_body()))
        return Checked(principal, sha256)

    @staticmethod
    def _check_body(request: Request) -> bytes | None:
        if request.method not in ("PUT", "POST") or request.is_aws_chunked:
            return None
        declared = {name: request.header(name) for name in checksums.CHECKSUMS if request.header(name) is not None}
        return checksums.check(declared, request.body, 0, request.length,
                               content_sha256=request.header("x-amz-content-sha256"))

    @staticmethod
    def _check_form(request: Request, form: post.PostForm, now: datetime) -> bytes:
        post.check_policy(form, request.bucket, now)
        if form.file_size > MAX_UPLOAD:
            raise entity_too_large(form.file_size, MAX_UPLOAD)
        return checksums.check(form.fields, request.body, form.file_start, form.file_end)

    def follow(self, request: Request, checked: Checked, response: http.client.HTTPResponse) -> bytes | None:
        """Follows multipart uploads through moto's answer; returns the answer's
        body, as S3 would give it, when the front had to read it."""
        if response.status // 100 != 2:
            return None
        upload_id = request.param("uploadId")
        if request.method == "POST" and request.param("uploads") is not None:
            answer = response.read()
            self._multipart.created(request, answer)
            return answer
        if upload_id is None:
            return None
        if request.method == "PUT" and checked.sha256 is not None and (request.param("partNumber") or "").isdigit():
            self._multipart.stored(upload_id, int(request.param("partNumber")), checked.sha256,
                                   response.getheader("etag") or "")
        elif request.method in ("POST", "DELETE"):
            self._multipart.ended(upload_id)
            if checked.composite is not None:
                return with_composite(response.read(), checked.composite)
        return None

    def cors_headers(self, method: str, target: str, origin: str) -> list[tuple[str, str]]:
        """The CORS headers S3 adds to an answer for this origin, from the bucket's
        CORS rules: S3 applies them to errors too, so a browser can read a refusal."""
        connection = http.client.HTTPConnection(*self._upstream, timeout=10)
        try:
            connection.request("OPTIONS", target, headers={"Origin": origin, "Access-Control-Request-Method": method})
            response = connection.getresponse()
            response.read()
        except OSError:
            return []
        finally:
            connection.close()
        return [(name, value) for name, value in response.getheaders()
                if name.lower() in ("access-control-allow-origin", "access-control-expose-headers")]

    def forward(self, request: Request) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection(*self._upstream, timeout=120)
        connection.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(request.length))
        connection.endheaders()
        request.body.seek(0)
        while chunk := request.body.read(COPY_CHUNK):
            connection.send(chunk)
        return connection.getresponse()


def _upload_cap(method: str) -> int:
    return MAX_UPLOAD + post.MAX_FORM_FIELDS + post.FORM_OVERHEAD if method == "POST" else MAX_UPLOAD


def _handler_class(front: S3Front) -> type[BaseHTTPRequestHandler]:
    class Handler(AnyMethodHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            request_id = uuid.uuid4().hex[:16].upper()
            resource = urlsplit(self.path).path
            length_header = self.headers.get("content-length")
            if length_header is None and "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                self.close_connection = True
                return self._error(S3Error(411, "MissingContentLength",
                                           "You must provide the Content-Length HTTP header."), resource, request_id)
            if length_header is not None and not length_header.strip().isdigit():
                self.close_connection = True
                return self._error(S3Error(400, "BadRequest", "An error occurred when parsing the HTTP request."),
                                   resource, request_id)
            length = int(length_header or 0)
            if length > _upload_cap(self.command):
                # The body is not read, so the connection cannot carry another request.
                self.close_connection = True
                return self._error(entity_too_large(length, MAX_UPLOAD), resource, request_id)
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as body:
                received = copy(self.rfile, body, length)
                if received < length:
                    self.close_connection = True
                    return self._error(S3Error(400, "IncompleteBody",
                                               "You did not provide the number of bytes specified by the "
                                               "Content-Length HTTP header"), resource, request_id)
                request = Request(self.command, self.path, self.headers, body, length)
                try:
                    checked = front.check(request)
                except S3Error as refused:
                    return self._error(refused, resource, request_id)
                try:
                    response = front.forward(request)
                except OSError:
                    log.exception("moto did not answer %s %s", self.command, resource)
                    return self._error(S3Error(503, "ServiceUnavailable", "Please reduce your request rate."),
                                       resource, request_id)
                try:
                    self._relay(response, front.follow(request, checked, response))
                finally:
                    response.close()
                log.info("%s %s passed, signed by %s", self.command, resource, checked.principal)

        def _error(self, error: S3Error, resource: str, request_id: str) -> None:
            # The path only: a query string may carry a signature.
            log.info("%s %s refused: %s", self.command, resource, error.code)
            payload = error.xml(resource, request_id)
            self.send_response(error.status)
            self.send_header("content-type", "application/xml")
            self.send_header("x-amz-request-id", request_id)
            self.send_header("content-length", str(len(payload)))
            origin = self.headers.get("origin")
            if origin:
                for name, value in front.cors_headers(self.command, urlsplit(self.path).path, origin):
                    self.send_header(name, value)
                self.send_header("vary", "Origin")
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _relay(self, response: http.client.HTTPResponse, body: bytes | None) -> None:
            """moto's answer, with `body` in place of its own when the front read it."""
            length = response.getheader("content-length")
            # Only moto's small answers come without a length; objects always have one.
            if body is None and length is None and self.command != "HEAD":
                body = response.read()
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() == "access-control-allow-headers":
                    value = allowed_request_headers(value, self.headers.get("access-control-request-headers"))
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            if body is not None:
                length = str(len(body))
            if length is not None:
                self.send_header("content-length", length)
            self.end_headers()
            if body is not None:
                self.wfile.write(body)
            elif self.command != "HEAD":
                try:
                    shutil.copyfileobj(response, self.wfile, COPY_CHUNK)
                except ConnectionError:
                    # A reader that needs only the start of a body hangs up (the
                    # worker's streamed reads do): S3 just stops sending.
                    log.info("%s %s: the client closed before the body's end", self.command,
                             urlsplit(self.path).path)
                    self.close_connection = True


    return Handler


def allowed_request_headers(rule: str, requested: str | None) -> str:
    """S3's answer to a preflight's Access-Control-Request-Headers: the requested
    headers that match the rule's AllowedHeader entries, where an entry may hold
    one `*` wildcard. moto echoes the entries themselves, and a browser reads
    `x-amz-*` as a header's name, not a pattern."""
    patterns = [p.strip().lower() for p in rule.split(",") if p.strip()]
    names = [n.strip().lower() for n in (requested or "").split(",") if n.strip()]
    return ", ".join(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))
