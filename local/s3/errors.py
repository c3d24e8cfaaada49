"""S3's refusals, in S3's XML error shape."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape


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


def access_denied(message: str = "Access Denied", *details: tuple[str, str]) -> S3Error:
    return S3Error(403, "AccessDenied", message, details)


def policy_failed(reason: str) -> S3Error:
    return access_denied(f"Invalid according to Policy: {reason}")


def invalid_argument(message: str, name: str, value: str = "") -> S3Error:
    return S3Error(400, "InvalidArgument", message, (("ArgumentName", name), ("ArgumentValue", value)))


def entity_too_large(size: int, limit: int) -> S3Error:
    return S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                   (("ProposedSize", str(size)), ("MaxSizeAllowed", str(limit))))


def signature_mismatch(string_to_sign: str, provided: str, access_key: str, canonical: str = "") -> S3Error:
    details = (("AWSAccessKeyId", access_key), ("StringToSign", string_to_sign), ("SignatureProvided", provided))
    return S3Error(403, "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you provided. "
                   "Check your key and signing method.",
                   details + ((("CanonicalRequest", canonical),) if canonical else ()))
