"""A body against the checksums it declares, as S3 checks them
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html).

Only what the product's requests carry: the SHA-256 the API signs into every
upload URL (`x-amz-checksum-sha256`, header or POST field), the CRC32 botocore
adds by default to an SDK's PutObject and DeleteObjects (`x-amz-checksum-crc32`),
and the hex payload hash every header-signed request carries
(`x-amz-content-sha256`). Other algorithms and `Content-MD5` pass unchecked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import zlib
from typing import IO

from local.s3.errors import S3Error
from local.s3.request import COPY_CHUNK

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
# (header or POST field, its digest's length in bytes, S3's message when the body does not match)
CHECKSUMS = {
    "x-amz-checksum-sha256": (32, "The SHA256 you specified did not match the calculated checksum."),
    "x-amz-checksum-crc32": (4, "The CRC32 you specified did not match the calculated checksum."),
}


def digests(body: IO[bytes], start: int, end: int) -> dict[str, bytes]:
    """The SHA-256 and CRC32 of body[start:end], by their checksum's name."""
    sha256, crc = hashlib.sha256(), 0
    body.seek(start)
    left = end - start
    while left:
        chunk = body.read(min(COPY_CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        sha256.update(chunk)
        crc = zlib.crc32(chunk, crc)
    return {"x-amz-checksum-sha256": sha256.digest(), "x-amz-checksum-crc32": crc.to_bytes(4, "big")}


def check(declared: dict[str, str], body: IO[bytes], start: int, end: int, *,
          content_sha256: str | None = None) -> bytes:
    """Raises S3's error if body[start:end] differs from a checksum in `declared`
    (lower-cased headers or POST fields) or from a hex `content_sha256`; returns
    the body's SHA-256."""
    computed = digests(body, start, end)
    sha256 = computed["x-amz-checksum-sha256"]
    if content_sha256 and _HEX_SHA256.fullmatch(content_sha256) \
            and not hmac.compare_digest(content_sha256, sha256.hex()):
        raise S3Error(400, "XAmzContentSHA256Mismatch",
                      "The provided 'x-amz-content-sha256' header does not match what was computed.",
                      (("ClientComputedContentSHA256", content_sha256), ("S3ComputedContentSHA256", sha256.hex())))
    for name, (size, mismatch) in CHECKSUMS.items():
        if name not in declared:
            continue
        expected = b64_digest(declared[name], size)
        if expected is None:
            raise S3Error(400, "InvalidRequest", f"Value for {name} header is invalid.")
        if not hmac.compare_digest(expected, computed[name]):
            raise S3Error(400, "BadDigest", mismatch)
    return sha256


def b64_digest(value: str, size: int) -> bytes | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == size else None
