"""What S3 checks on a request and moto does not, in front of moto's S3.

Every S3 client of the local stack reaches moto through this front (boto3's
`AWS_ENDPOINT_URL_S3`). It refuses, with S3's error codes and XML shape:

- presigned URLs (SigV4 query auth) whose signature does not match, whose key
  is not the stack's, that are expired, or whose `X-Amz-Expires` is out of range;
- header-signed requests (SigV4 `Authorization`) whose signature does not
  match or whose date is more than 15 minutes off;
- presigned POSTs whose policy signature does not match, whose policy has
  expired, or whose form breaks a condition (`eq`, `starts-with`,
  `content-length-range`) or carries a field no condition names;
- bodies that do not match their `Content-MD5`, `x-amz-checksum-sha256`,
  `x-amz-checksum-sha1`, `x-amz-checksum-crc32` or a hex `x-amz-content-sha256`
  (PUT, UploadPart, and the file of a POST);
- requests with no authentication at all (the bucket is private), except CORS
  preflights, which moto answers from the bucket's CORS configuration.

Refusals carry the CORS headers the bucket's rules give the request's origin, as
S3's do, so the dashboard can tell a refused part from a network failure.

Signatures are recomputed with botocore's own signers and the signing
principal's credentials, and compared in constant time. Then the signer's IAM
policy (and the bucket's) must allow the request (local/iam/s3.py): a
presigned URL or POST acts with the rights of the key that signed it.
Anything that passes goes to moto byte for byte. Bodies are spooled to a
temporary file (memory stays bounded) and capped at S3's single-request limit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import json
import logging
import fnmatch
import re
import shutil
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import IO
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth, S3SigV4PostAuth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.iam.s3 import S3Authorizer, object_key
from local.serving import BackgroundServer

log = logging.getLogger("local.s3_front")

GiB = 1024**3
# S3's largest single PUT, UploadPart or POST file.
MAX_UPLOAD = 5 * GiB
# What a POST form may carry besides its file: S3 caps the fields before the
# file at 20 KB; the boundaries and part headers get some room on top.
MAX_FORM_FIELDS = 20 * 1024
_FORM_OVERHEAD = 64 * 1024
MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600
MAX_CLOCK_SKEW = timedelta(minutes=15)
_COPY_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
               "expect"}
# Fields a POST may carry that no policy condition has to name.
_POST_UNCONDITIONED = {"policy", "x-amz-signature", "file"}
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class S3Error(Exception):
    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def xml(self, resource: str, request_id: str) -> bytes:
        details = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in self.details)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message>{details}"
            f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId>"
            f"<HostId>{request_id}</HostId></Error>"
        ).encode()


def _access_denied(message: str = "Access Denied", *details: tuple[str, str]) -> S3Error:
    return S3Error(403, "AccessDenied", message, details)


def _policy_failed(reason: str) -> S3Error:
    return _access_denied(f"Invalid according to Policy: {reason}")


def _signature_mismatch(string_to_sign: str, provided: str, access_key: str, canonical: str = "") -> S3Error:
    details = (("AWSAccessKeyId", access_key), ("StringToSign", string_to_sign), ("SignatureProvided", provided))
    return S3Error(403, "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you provided. "
                   "Check your key and signing method.",
                   details + ((("CanonicalRequest", canonical),) if canonical else ()))


def _sigv2() -> S3Error:
    # Buckets created since June 2020 accept Signature Version 4 only.
    return S3Error(400, "InvalidRequest",
                   "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")


# --- The request as S3 sees it ------------------------------------------------------------


@dataclass
class Request:
    method: str
    target: str
    headers: Message
    body: IO[bytes]
    length: int

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def bucket(self) -> str:
        hostname = self.host.rsplit(":", 1)[0]
        if ".s3." in hostname or hostname.endswith(".s3.amazonaws.com"):
            return hostname.split(".s3.", 1)[0]
        return unquote(self.path.lstrip("/").split("/", 1)[0])

    def canonical_url(self) -> str:
        """The URL a client signed: S3 signs the URI-encoded path as it is, with no
        normalisation, and every client encodes it the same way once decoded."""
        return f"http://{self.host}{quote(unquote(self.path), safe='/~')}"


class _Signer:
    """botocore's signers, run on a request that already has its auth: the same
    canonical request, string to sign and signing key, at the request's own time."""

    def __init__(self, iam: S3Authorizer) -> None:
        self.iam = iam

    def _credentials_for(self, credential: str) -> tuple[Credentials, str, str, str]:
        """(the key's credentials, date, region, service) of a credential scope, or an S3 error."""
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise S3Error(400, "AuthorizationQueryParametersError",
                          "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                          'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
        found = self.iam.credentials(parts[0])
        if found is None:
            raise S3Error(403, "InvalidAccessKeyId",
                          "The AWS Access Key Id you provided does not exist in our records.",
                          (("AWSAccessKeyId", parts[0]),))
        return found, parts[1], parts[2], parts[3]

    def check_query(self, request: Request, now: datetime) -> str:
        params = dict(request.query)
        try:
            credential = params["X-Amz-Credential"]
            timestamp = params["X-Amz-Date"]
            expires = params["X-Amz-Expires"]
            signed_headers = params["X-Amz-SignedHeaders"]
            provided = params["X-Amz-Signature"]
        except KeyError as missing:
            raise S3Error(400, "AuthorizationQueryParametersError",
                          f"Query-string authentication version 4 requires the {missing.args[0]} parameter.") from None
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise S3Error(400, "AuthorizationQueryParametersError",
                          "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        found, _, region, service = self._credentials_for(credential)
        access_key = found.access_key
        if not expires.isdigit() or not 0 < int(expires) <= MAX_PRESIGNED_EXPIRES_S:
            raise S3Error(400, "AuthorizationQueryParametersError",
                          "X-Amz-Expires must be less than a week (in seconds) that is 604800")
        signed_at = _parse_timestamp(timestamp)
        # A session token is signed like any parameter; moto issues none, so its
        # value is not checked against the key.
        credentials = Credentials(found.access_key, found.secret_key, params.get("X-Amz-Security-Token"))
        signer = S3SigV4QueryAuth(credentials, service, region, expires=int(expires))
        operation = [(name, value) for name, value in request.query
                     if name not in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                     "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token")]
        aws = AWSRequest(method=request.method, url=request.canonical_url(),
                         headers=self._signed_headers(request, signed_headers))
        aws.params = dict(operation)
        aws.context["timestamp"] = timestamp
        signer._modify_request_before_signing(aws)
        canonical = signer.canonical_request(aws)
        string_to_sign = signer.string_to_sign(aws, canonical)
        if not hmac.compare_digest(signer.signature(string_to_sign, aws), provided):
            raise _signature_mismatch(string_to_sign, provided, access_key, canonical)
        expiry = signed_at + timedelta(seconds=int(expires))
        if now > expiry:
            raise _access_denied("Request has expired", ("X-Amz-Expires", expires),
                                 ("Expires", _iso(expiry)), ("ServerTime", _iso(now)))
        if signed_at - now > MAX_CLOCK_SKEW:
            raise _access_denied("Request is not valid yet")
        return access_key

    def check_header(self, request: Request, now: datetime) -> str:
        authorization = request.header("authorization") or ""
        fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("AWS4-HMAC-SHA256").split(",")
                      if "=" in part)
        try:
            credential, signed_headers, provided = (fields["Credential"], fields["SignedHeaders"],
                                                    fields["Signature"])
        except KeyError:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed; it must name Credential, SignedHeaders "
                          "and Signature.") from None
        found, _, region, service = self._credentials_for(credential)
        access_key = found.access_key
        timestamp = request.header("x-amz-date")
        if timestamp is None:
            raise _access_denied("AWS authentication requires a valid Date or x-amz-date header")
        if request.header("x-amz-content-sha256") is None:
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        signed_at = _parse_timestamp(timestamp)
        if abs(signed_at - now) > MAX_CLOCK_SKEW:
            raise S3Error(403, "RequestTimeTooSkewed",
                          "The difference between the request time and the current time is too large.",
                          (("RequestTime", timestamp), ("ServerTime", _iso(now))))
        signer = S3SigV4Auth(found, service, region)
        aws = AWSRequest(method=request.method, url=request.canonical_url(),
                         headers=self._signed_headers(request, signed_headers))
        aws.params = request.query
        aws.context["timestamp"] = timestamp
        # The payload's hash is the one the client declared and signed; the body
        # is checked against it separately (XAmzContentSHA256Mismatch).
        if "x-amz-content-sha256" not in aws.headers:
            aws.headers["X-Amz-Content-SHA256"] = request.header("x-amz-content-sha256")
        canonical = signer.canonical_request(aws)
        string_to_sign = signer.string_to_sign(aws, canonical)
        if not hmac.compare_digest(signer.signature(string_to_sign, aws), provided):
            raise _signature_mismatch(string_to_sign, provided, access_key, canonical)
        return access_key

    def check_post_signature(self, fields: dict[str, str]) -> str:
        found, _, region, service = self._credentials_for(fields["x-amz-credential"])
        signer = S3SigV4PostAuth(found, service, region)
        aws = AWSRequest()
        aws.context["timestamp"] = fields["x-amz-date"]
        _parse_timestamp(fields["x-amz-date"])
        provided = fields.get("x-amz-signature", "")
        if not hmac.compare_digest(signer.signature(fields["policy"], aws), provided):
            raise _signature_mismatch(fields["policy"], provided, found.access_key)
        return found.access_key

    @staticmethod
    def _signed_headers(request: Request, signed_headers: str) -> dict[str, str]:
        """The headers the client says it signed, with the values they arrived with;
        `host` comes from the URL, as botocore takes it."""
        return {name: request.header(name) or "" for name in signed_headers.split(";") if name and name != "host"}


def _parse_timestamp(value: str) -> datetime:
    try:
        return datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        raise S3Error(400, "AuthorizationQueryParametersError",
                      "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"") from None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Bodies and their checksums ---------------------------------------------------------------


def _digests(body: IO[bytes], start: int, end: int) -> dict[str, bytes]:
    """The digests S3 can be told to check, of body[start:end]."""
    md5, sha256, sha1, crc = hashlib.md5(), hashlib.sha256(), hashlib.sha1(), 0
    body.seek(start)
    left = end - start
    while left:
        chunk = body.read(min(_COPY_CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        md5.update(chunk)
        sha256.update(chunk)
        sha1.update(chunk)
        crc = zlib.crc32(chunk, crc)
    return {"md5": md5.digest(), "sha256": sha256.digest(), "sha1": sha1.digest(), "crc32": crc.to_bytes(4, "big")}


# (header or POST field, digest, its length in bytes, S3's message when the body does not match)
_CHECKSUMS = (
    ("x-amz-checksum-sha256", "sha256", 32, "The SHA256 you specified did not match the calculated checksum."),
    ("x-amz-checksum-sha1", "sha1", 20, "The SHA1 you specified did not match the calculated checksum."),
    ("x-amz-checksum-crc32", "crc32", 4, "The CRC32 you specified did not match the calculated checksum."),
)


def check_checksums(declared: dict[str, str], body: IO[bytes], start: int, end: int, *,
                    content_sha256: str | None = None) -> None:
    """`declared` holds the checksum headers (or POST fields), lower-cased."""
    wanted = [name for name in ("content-md5", *(c[0] for c in _CHECKSUMS)) if name in declared]
    content_sha256 = content_sha256 if content_sha256 and _HEX_SHA256.fullmatch(content_sha256) else None
    if not wanted and not content_sha256:
        return
    digests = _digests(body, start, end)
    if content_sha256 and not hmac.compare_digest(content_sha256, digests["sha256"].hex()):
        raise S3Error(400, "XAmzContentSHA256Mismatch",
                      "The provided 'x-amz-content-sha256' header does not match what was computed.",
                      (("ClientComputedContentSHA256", content_sha256),
                       ("S3ComputedContentSHA256", digests["sha256"].hex())))
    if "content-md5" in declared:
        expected = _b64(declared["content-md5"], 16)
        if expected is None:
            raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        if not hmac.compare_digest(expected, digests["md5"]):
            raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
    for name, digest, size, mismatch in _CHECKSUMS:
        if name not in declared:
            continue
        expected = _b64(declared[name], size)
        if expected is None:
            raise S3Error(400, "InvalidRequest", f"Value for {name} header is invalid.")
        if not hmac.compare_digest(expected, digests[digest]):
            raise S3Error(400, "BadDigest", mismatch)


def _b64(value: str, size: int) -> bytes | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == size else None


# --- POST policies ------------------------------------------------------------------------------


@dataclass
class PostForm:
    fields: dict[str, str]  # lower-cased names, as S3 compares them
    filename: str
    file_start: int
    file_end: int

    @property
    def file_size(self) -> int:
        return self.file_end - self.file_start


def parse_post_form(body: IO[bytes], length: int, content_type: str) -> PostForm:
    """The fields before the file and where the file's bytes are in `body`. S3
    ignores fields after the file; only the file's end is searched for, by chunks."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise S3Error(400, "MalformedPOSTRequest",
                      "The body of your POST request is not well-formed multipart/form-data.")
    delimiter = b"--" + match.group(1).encode("latin-1")
    body.seek(0)
    head = body.read(min(length, MAX_FORM_FIELDS + _FORM_OVERHEAD))
    fields: dict[str, str] = {}
    position = head.find(delimiter)
    while position >= 0:
        part_start = position + len(delimiter)
        if head[part_start:part_start + 2] == b"--":
            break
        headers_end = head.find(b"\r\n\r\n", part_start)
        if headers_end < 0:
            break
        disposition = _part_disposition(head[part_start:headers_end].decode("utf-8", "replace"))
        name = disposition.get("name", "")
        content_start = headers_end + 4
        if name.lower() == "file":
            end = _find(body, b"\r\n" + delimiter, content_start, length)
            if end < 0:
                break
            return PostForm(fields, disposition.get("filename", ""), content_start, end)
        next_delimiter = head.find(b"\r\n" + delimiter, content_start)
        if next_delimiter < 0:
            raise S3Error(400, "MaxPostPreDataLengthExceeded",
                          "Your POST request fields preceeding the upload file was too large.")
        fields[name.lower()] = head[content_start:next_delimiter].decode("utf-8", "replace")
        position = next_delimiter + 2
    raise S3Error(400, "InvalidArgument", "POST requires exactly one file upload per request.",
                  (("ArgumentName", "file"), ("ArgumentValue", "0")))


def _part_disposition(headers: str) -> dict[str, str]:
    message = Message()
    for line in headers.split("\r\n"):
        if ":" in line:
            name, value = line.split(":", 1)
            message[name.strip()] = value.strip()
    params = message.get_params(header="content-disposition") or []
    return {name.lower(): value for name, value in params[1:]}


def _find(body: IO[bytes], needle: bytes, start: int, end: int) -> int:
    """Where `needle` first occurs in body[start:end], reading a chunk at a time."""
    overlap = len(needle) - 1
    offset = start
    while offset < end:
        body.seek(offset)
        chunk = body.read(min(_COPY_CHUNK + overlap, end - offset))
        found = chunk.find(needle)
        if found >= 0:
            return offset + found
        if len(chunk) <= overlap:
            return -1
        offset += len(chunk) - overlap
    return -1


def check_post_policy(form: PostForm, bucket: str, now: datetime) -> None:
    """The policy's expiration and conditions, as the AWS documentation
    ("Creating a POST policy") defines them."""
    fields = form.fields
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
        expiration = datetime.fromisoformat(policy["expiration"])
        conditions = policy["conditions"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=timezone.utc)
    if now > expiration:
        raise _policy_failed("Policy expired.")
    values = {**fields, "bucket": bucket}
    if "key" in values:
        values["key"] = values["key"].replace("${filename}", form.filename)
    named: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, expected),) = condition.items()
            condition = ["eq", f"${name}", expected]
        if not isinstance(condition, list) or len(condition) != 3:
            raise S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition: {json.dumps(condition)}")
        operator = str(condition[0]).lower()
        if operator == "content-length-range":
            try:
                low, high = int(condition[1]), int(condition[2])
            except (TypeError, ValueError):
                raise S3Error(400, "InvalidPolicyDocument",
                              f"Invalid Policy: Invalid content-length-range: {json.dumps(condition)}") from None
            if form.file_size > high:
                raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                              (("ProposedSize", str(form.file_size)), ("MaxSizeAllowed", str(high))))
            if form.file_size < low:
                raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                              (("ProposedSize", str(form.file_size)), ("MinSizeAllowed", str(low))))
            continue
        name = str(condition[1]).lower().removeprefix("$")
        named.add(name)
        actual, expected = values.get(name), str(condition[2])
        if operator == "eq":
            matched = actual == expected
        elif operator == "starts-with":
            matched = actual is not None and actual.startswith(expected)
        else:
            raise S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition: {json.dumps(condition)}")
        if not matched:
            raise _policy_failed(f"Policy Condition failed: {json.dumps(condition)}")
    extra = sorted(name for name in fields
                   if name not in named and name not in _POST_UNCONDITIONED and not name.startswith("x-ignore-"))
    if extra:
        raise _policy_failed(f"Extra input fields: {', '.join(extra)}")


# --- The server --------------------------------------------------------------------------------


class S3Front:
    def __init__(self, upstream: str, iam: S3Authorizer, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port)
        self._iam = iam
        self._signer = _Signer(iam)
        self._server = BackgroundServer(_handler_class(self), host, port, "s3-front")

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> "S3Front":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def check(self, request: Request) -> None:
        """Raises the S3Error S3 would answer this request with, if any."""
        if request.method == "OPTIONS":
            # A preflight never carries credentials, even for a presigned URL: the
            # browser sends the URL's query string, unsigned. moto answers it.
            return
        now = datetime.now(timezone.utc)
        names = {name for name, _ in request.query}
        authorization = request.header("authorization")
        if "Signature" in names or (authorization or "").startswith("AWS "):
            raise _sigv2()
        posted_key = None
        if "X-Amz-Signature" in names or "X-Amz-Credential" in names or "X-Amz-Algorithm" in names:
            signer = self._signer.check_query(request, now)
            self._check_body(request)
        elif authorization:
            if not authorization.startswith("AWS4-HMAC-SHA256 "):
                raise S3Error(400, "InvalidArgument", "Unsupported Authorization Type")
            signer = self._signer.check_header(request, now)
            self._check_body(request)
        elif request.method == "POST" and "multipart/form-data" in (request.header("content-type") or ""):
            signer, posted_key = self._check_post(request, now)
        else:
            raise _access_denied()
        # What the signer's IAM policy and the bucket's allow (local/iam/s3.py).
        refused = self._iam.authorize(signer, request.method, request.bucket or None,
                                      posted_key or object_key(request.path, request.bucket, request.host),
                                      request.query, request.headers, request.body, form_post=posted_key is not None)
        if refused:
            raise S3Error(*refused)

    def _check_body(self, request: Request) -> None:
        if request.method not in ("PUT", "POST") or _is_aws_chunked(request):
            return
        declared = {name: request.header(name) for name in ("content-md5", *(c[0] for c in _CHECKSUMS))
                    if request.header(name) is not None}
        check_checksums(declared, request.body, 0, request.length,
                        content_sha256=request.header("x-amz-content-sha256"))

    def _check_post(self, request: Request, now: datetime) -> tuple[str, str]:
        """(the signer's access key, the object key) of a valid presigned POST."""
        form = parse_post_form(request.body, request.length, request.header("content-type") or "")
        fields = form.fields
        if "key" not in fields:
            raise S3Error(400, "InvalidArgument", "Bucket POST must contain a field named 'key'.  "
                          "If it is specified, please check the order of the fields.",
                          (("ArgumentName", "key"), ("ArgumentValue", "")))
        if "awsaccesskeyid" in fields:
            raise _sigv2()
        if "policy" not in fields:
            # An anonymous POST: the bucket is private.
            raise _access_denied()
        for required in ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
            if required not in fields:
                raise S3Error(400, "InvalidArgument", f"Bucket POST must contain a field named '{required}'.",
                              (("ArgumentName", required), ("ArgumentValue", "")))
        if fields["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
            raise S3Error(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 is accepted for a POST.")
        signer = self._signer.check_post_signature(fields)
        check_post_policy(form, request.bucket, now)
        if form.file_size > MAX_UPLOAD:
            raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                          (("ProposedSize", str(form.file_size)), ("MaxSizeAllowed", str(MAX_UPLOAD))))
        check_checksums(fields, request.body, form.file_start, form.file_end)
        return signer, fields["key"].replace("${filename}", form.filename)

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
        while chunk := request.body.read(_COPY_CHUNK):
            connection.send(chunk)
        return connection.getresponse()


def _is_aws_chunked(request: Request) -> bool:
    """A body in aws-chunked encoding carries its checksums in chunk signatures or a
    trailer, which the front does not decode; moto does."""
    return ("aws-chunked" in (request.header("content-encoding") or "")
            or (request.header("x-amz-content-sha256") or "").startswith("STREAMING-"))


def _upload_cap(method: str) -> int:
    return MAX_UPLOAD + MAX_FORM_FIELDS + _FORM_OVERHEAD if method == "POST" else MAX_UPLOAD


def _handler_class(front: S3Front) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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
                return self._error(S3Error(400, "EntityTooLarge",
                                           "Your proposed upload exceeds the maximum allowed size",
                                           (("ProposedSize", str(length)), ("MaxSizeAllowed", str(MAX_UPLOAD)))),
                                   resource, request_id)
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as body:
                received = _copy(self.rfile, body, length)
                if received < length:
                    self.close_connection = True
                    return self._error(S3Error(400, "IncompleteBody",
                                               "You did not provide the number of bytes specified by the "
                                               "Content-Length HTTP header"), resource, request_id)
                request = Request(self.command, self.path, self.headers, body, length)
                try:
                    front.check(request)
                except S3Error as refused:
                    return self._error(refused, resource, request_id)
                try:
                    response = front.forward(request)
                except OSError:
                    log.exception("moto did not answer %s %s", self.command, resource)
                    return self._error(S3Error(503, "ServiceUnavailable", "Please reduce your request rate."),
                                       resource, request_id)
                self._relay(response)
            log.info("%s %s passed", self.command, resource)

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

        def _relay(self, response: http.client.HTTPResponse) -> None:
            try:
                length = response.getheader("content-length")
                # Only moto's small answers come without a length; objects always have one.
                body = response.read() if length is None and self.command != "HEAD" else None
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
                    shutil.copyfileobj(response, self.wfile, _COPY_CHUNK)
            finally:
                response.close()

        def __getattr__(self, name: str):
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
            """Replaced by the lines in `_serve`, which leave out the query string."""

    return Handler


def allowed_request_headers(rule: str, requested: str | None) -> str:
    """S3's answer to a preflight's Access-Control-Request-Headers: the requested
    headers that match the rule's AllowedHeader entries, where an entry may hold
    one `*` wildcard. moto echoes the entries themselves, and a browser reads
    `x-amz-*` as a header's name, not a pattern."""
    patterns = [p.strip().lower() for p in rule.split(",") if p.strip()]
    names = [n.strip().lower() for n in (requested or "").split(",") if n.strip()]
    return ", ".join(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def _copy(source: IO[bytes], target: IO[bytes], length: int) -> int:
    copied = 0
    while copied < length:
        chunk = source.read(min(_COPY_CHUNK, length - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied
