"""Who signed a request: SigV4 in the query string (presigned URLs), in the
`Authorization` header (SDKs), or over a POST policy.

The canonical request, string to sign and signature are botocore's own, through
its public signer methods, recomputed with the signing principal's credentials at the
request's own timestamp. The canonical query string holds every pair the
request carries, repeats included, sorted by name then value, as SigV4 defines
it (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
a parameter added to a signed URL, even one repeating a signed name, breaks
its signature.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth, S3SigV4PostAuth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.s3.errors import S3Error, access_denied, signature_mismatch
from local.s3.request import Request

# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600
MAX_CLOCK_SKEW = timedelta(minutes=15)
_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
               "X-Amz-Signature")


class Signer:
    """Each check returns the access key that signed the request (its principal),
    or raises the S3Error S3 answers."""

    def __init__(self, credentials_of: Callable[[str], Credentials | None]) -> None:
        # Each principal signs with its own key: the stack's IAM knows them all.
        self.credentials_of = credentials_of

    def _scope(self, credential: str) -> tuple[Credentials, str, str]:
        """(the signing key's credentials, region, service) of a credential scope."""
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise S3Error(400, "AuthorizationQueryParametersError",
                          "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                          'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
        credentials = self.credentials_of(parts[0])
        if credentials is None:
            raise S3Error(403, "InvalidAccessKeyId",
                          "The AWS Access Key Id you provided does not exist in our records.",
                          (("AWSAccessKeyId", parts[0]),))
        return credentials, parts[2], parts[3]

    def check_query(self, request: Request, now: datetime) -> str:
        auth = {name: value for name, value in reversed(request.query) if name in _QUERY_AUTH}
        missing = next((name for name in _QUERY_AUTH if name not in auth), None)
        if missing:
            raise S3Error(400, "AuthorizationQueryParametersError",
                          f"Query-string authentication version 4 requires the {missing} parameter.")
        if auth["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            raise S3Error(400, "AuthorizationQueryParametersError",
                          "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        credentials, region, service = self._scope(auth["X-Amz-Credential"])
        access_key = credentials.access_key
        expires = auth["X-Amz-Expires"]
        if not expires.isdigit() or not 0 < int(expires) <= MAX_PRESIGNED_EXPIRES_S:
            raise S3Error(400, "AuthorizationQueryParametersError",
                          "X-Amz-Expires must be less than a week (in seconds) that is 604800")
        signed_at = parse_timestamp(auth["X-Amz-Date"])
        signer = S3SigV4QueryAuth(credentials, service, region)
        aws = self._request(request, auth["X-Amz-SignedHeaders"], auth["X-Amz-Date"])
        # A session token is signed like any parameter; moto issues none, so its
        # value is not checked against the key.
        aws.params = [(name, value) for name, value in request.query if name != "X-Amz-Signature"]
        self._verify(signer, aws, auth["X-Amz-Signature"], access_key)
        expiry = signed_at + timedelta(seconds=int(expires))
        if now > expiry:
            raise access_denied("Request has expired", ("X-Amz-Expires", expires),
                                ("Expires", iso(expiry)), ("ServerTime", iso(now)))
        if signed_at - now > MAX_CLOCK_SKEW:
            raise access_denied("Request is not valid yet")
        return access_key

    def check_header(self, request: Request, now: datetime) -> str:
        authorization = request.header("authorization") or ""
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            raise S3Error(400, "InvalidArgument", "Unsupported Authorization Type")
        fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("AWS4-HMAC-SHA256").split(",")
                      if "=" in part)
        try:
            credential, signed_headers, provided = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
        except KeyError:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed; it must name Credential, SignedHeaders "
                          "and Signature.") from None
        credentials, region, service = self._scope(credential)
        access_key = credentials.access_key
        timestamp = request.header("x-amz-date")
        if timestamp is None:
            raise access_denied("AWS authentication requires a valid Date or x-amz-date header")
        content_sha256 = request.header("x-amz-content-sha256")
        if content_sha256 is None:
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        signed_at = parse_timestamp(timestamp)
        if abs(signed_at - now) > MAX_CLOCK_SKEW:
            raise S3Error(403, "RequestTimeTooSkewed",
                          "The difference between the request time and the current time is too large.",
                          (("RequestTime", timestamp), ("ServerTime", iso(now))))
        aws = self._request(request, signed_headers, timestamp)
        aws.params = request.query
        # The payload's hash is the one the client declared and signed; the body
        # is checked against it separately (XAmzContentSHA256Mismatch).
        if "x-amz-content-sha256" not in aws.headers:
            aws.headers["X-Amz-Content-SHA256"] = content_sha256
        self._verify(S3SigV4Auth(credentials, service, region), aws, provided, access_key)
        return access_key

    def check_post(self, fields: dict[str, str]) -> str:
        credentials, region, service = self._scope(fields["x-amz-credential"])
        access_key = credentials.access_key
        parse_timestamp(fields["x-amz-date"])
        aws = AWSRequest()
        aws.context["timestamp"] = fields["x-amz-date"]
        provided = fields.get("x-amz-signature", "")
        expected = S3SigV4PostAuth(credentials, service, region).signature(fields["policy"], aws)
        if not hmac.compare_digest(expected, provided):
            raise signature_mismatch(fields["policy"], provided, access_key)
        return access_key

    @staticmethod
    def _request(request: Request, signed_headers: str, timestamp: str) -> AWSRequest:
        """The request as the client signed it: the headers it names, with the values
        they arrived with (`host` comes from the URL, as botocore takes it)."""
        headers = {name: request.header(name) or "" for name in signed_headers.split(";") if name and name != "host"}
        aws = AWSRequest(method=request.method, url=request.canonical_url(), headers=headers)
        aws.context["timestamp"] = timestamp
        return aws

    @staticmethod
    def _verify(signer: S3SigV4Auth, aws: AWSRequest, provided: str, access_key: str) -> None:
        canonical = signer.canonical_request(aws)
        string_to_sign = signer.string_to_sign(aws, canonical)
        if not hmac.compare_digest(signer.signature(string_to_sign, aws), provided):
            raise signature_mismatch(string_to_sign, provided, access_key, canonical)


def parse_timestamp(value: str) -> datetime:
    try:
        return datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise S3Error(400, "AuthorizationQueryParametersError",
                      "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"") from None


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
