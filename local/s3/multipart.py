"""What S3 checks at CompleteMultipartUpload and moto does not: each part named
with the checksum S3 verified its bytes against, and the object's composite
checksum in the answer
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html).

Only uploads created with `x-amz-checksum-algorithm: SHA256` are followed, as
the API creates them. The front saw every part's bytes; for each upload it keeps
the SHA-256 and the ETag of each part moto stored, and on completion refuses:

- a part it holds no such part for, or whose ETag or `ChecksumSHA256` differs
  (`InvalidPart`, as S3 answers);
- a part named without its `ChecksumSHA256` (`InvalidRequest`, S3's answer to
  such a request, e.g. aws/aws-sdk-php#2648).

A completion moto accepts gets S3's `ChecksumSHA256`, the SHA-256 of the parts'
digests in part order followed by `-N`, and `ChecksumType` `COMPOSITE`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from dataclasses import dataclass
from xml.etree import ElementTree

from local.s3.checksums import b64_digest
from local.s3.errors import S3Error
from local.s3.request import Request

_INVALID_PART = ("One or more of the specified parts could not be found.  The part may not have been uploaded, "
                 "or the specified entity tag may not match the part's entity tag.")
_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")
_RESULT_END = b"</CompleteMultipartUploadResult>"


@dataclass(frozen=True)
class Part:
    sha256: bytes
    etag: str


class MultipartChecks:
    """The parts of each followed upload, by upload id and part number. Shared by
    the front's request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uploads: dict[str, dict[int, Part]] = {}

    def created(self, request: Request, answer: bytes) -> None:
        if (request.header("x-amz-checksum-algorithm") or "").upper() != "SHA256":
            return
        found = _UPLOAD_ID.search(answer)
        if found:
            with self._lock:
                self._uploads[found.group(1).decode()] = {}

    def stored(self, upload_id: str, number: int, sha256: bytes, etag: str) -> None:
        with self._lock:
            if upload_id in self._uploads:
                self._uploads[upload_id][number] = Part(sha256, etag.strip('"'))

    def ended(self, upload_id: str) -> None:
        with self._lock:
            self._uploads.pop(upload_id, None)

    def composite(self, upload_id: str, body: bytes) -> str | None:
        """The composite checksum of the parts a CompleteMultipartUpload body names,
        or None for an upload created without SHA-256; raises S3's refusal."""
        with self._lock:
            held = dict(self._uploads[upload_id]) if upload_id in self._uploads else None
        if held is None:
            return None
        digests = []
        for number, etag, sha256 in _named_parts(body):
            if sha256 is None:
                raise S3Error(400, "InvalidRequest",
                              "The upload was created using a sha256 checksum. The complete request must include "
                              f"the checksum for each part. It was missing for part {number} in the request.")
            part = held.get(number)
            claimed = b64_digest(sha256, 32)
            if part is None or part.etag != etag.strip('"') or claimed is None \
                    or not hmac.compare_digest(claimed, part.sha256):
                raise S3Error(400, "InvalidPart", _INVALID_PART,
                              (("UploadId", upload_id), ("PartNumber", str(number)), ("ETag", etag)))
            digests.append(part.sha256)
        return f"{base64.b64encode(hashlib.sha256(b''.join(digests)).digest()).decode()}-{len(digests)}"


def with_composite(answer: bytes, composite: str) -> bytes:
    """moto's CompleteMultipartUploadResult with the checksum S3 puts in it."""
    return answer.replace(_RESULT_END, f"<ChecksumSHA256>{composite}</ChecksumSHA256>"
                                       f"<ChecksumType>COMPOSITE</ChecksumType>".encode() + _RESULT_END)


def _named_parts(body: bytes) -> list[tuple[int, str, str | None]]:
    """(number, ETag, ChecksumSHA256) of each part, in the order named."""
    try:
        root = ElementTree.fromstring(body)
        parts = [{child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in part}
                 for part in root if part.tag.rsplit("}", 1)[-1] == "Part"]
        return [(int(part["PartNumber"]), part.get("ETag", ""), part.get("ChecksumSHA256")) for part in parts]
    except (ElementTree.ParseError, KeyError, ValueError):
        raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against "
                                           "our published schema") from None
