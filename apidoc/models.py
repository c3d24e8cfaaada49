"""The HTTP API's wire contract: JSON bodies in camelCase, as pydantic models.

The OpenAPI document is generated from them, and the API checks requests
against the document's schemas (workers/api/validation.py), so the contract,
the validation and the docs are one thing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.http import MAX_FILE_SIZE
from contract.scan import SCAN_STATES
from contract.table import STATUS_FAILED, STATUS_PENDING, STATUS_PROCESSED
from workers.api.limits import (
    ALLOWED_CONTENT_TYPES,
    MAX_DISPLAY_FILENAME_CHARS,
    MAX_PART_URLS_PER_REQUEST,
    MAX_PARTS,
    MULTIPART_THRESHOLD,
)

ContentType = Literal[ALLOWED_CONTENT_TYPES]  # type: ignore[valid-type]
PartNumber = Annotated[int, Field(ge=1, le=MAX_PARTS)]
# As S3's `x-amz-checksum-sha256` carries it: the base64 of the 32-byte digest.
Sha256 = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$", description="Base64 of the 32-byte SHA-256 digest")]
Status = Literal[STATUS_PENDING, STATUS_PROCESSED, STATUS_FAILED]
ScanStatus = Literal[SCAN_STATES]  # type: ignore[valid-type]


class _Model(BaseModel):
    # Unknown fields are refused: a typo in a request fails loudly.
    model_config = ConfigDict(extra="forbid")


class _Request(_Model):
    # A field takes only its own JSON type: `true`, `"5"` or `5.0` is not a size
    # or a part number, whatever pydantic could coerce it to.
    model_config = ConfigDict(strict=True)


class CreateUpload(_Request):
    filename: str = Field(min_length=1, max_length=MAX_DISPLAY_FILENAME_CHARS)
    contentType: ContentType
    # Over the limit is the API's 413, not a validation 400, so it is described, not a schema maximum.
    size: int = Field(ge=1, description=f"Bytes; at most {MAX_FILE_SIZE}, else 413")
    sha256: Sha256 | None = Field(
        default=None,
        description=f"The file's SHA-256, signed into the upload so S3 refuses other bytes; "
                    f"for uploads up to {MULTIPART_THRESHOLD} bytes (larger ones send one per part)")


class PostUpload(_Model):
    method: Literal["POST"]
    url: str
    fields: dict[str, str] = Field(description="Send these form fields first, then the file as `file`")


class PutUpload(_Model):
    method: Literal["PUT"]
    url: str
    headers: dict[str, str] = Field(description="Send the file as the body with exactly these headers")


class MultipartUpload(_Model):
    method: Literal["MULTIPART"]
    uploadId: str
    partSize: int = Field(description="Every part but the last has exactly this many bytes")
    partCount: int
    checksumAlgorithm: Literal["SHA256"] = Field(
        description="Each part URL is asked for with its part's SHA-256; the object gets S3's composite checksum")


class Ticket(_Model):
    fileId: str
    key: str
    expiresAt: str
    upload: PostUpload | PutUpload | MultipartUpload = Field(discriminator="method")


class PartChecksum(_Request):
    partNumber: PartNumber
    sha256: Sha256


class PartsRequest(_Request):
    parts: list[PartChecksum] = Field(min_length=1, max_length=MAX_PART_URLS_PER_REQUEST)


class PartUrl(_Model):
    partNumber: int
    url: str
    headers: dict[str, str] = Field(description="Send the part as the body with exactly these headers")


class PartsResponse(_Model):
    parts: list[PartUrl]


class UploadedPart(_Model):
    partNumber: int
    size: int
    etag: str
    sha256: str | None = Field(description="The part's SHA-256 as S3 verified it, when S3 reports it")


class UploadedParts(_Model):
    parts: list[UploadedPart] = Field(description="What S3 holds, by part number; a resuming client sends the rest")


class CompletedPart(_Request):
    partNumber: PartNumber
    etag: str = Field(min_length=1, max_length=1024)
    sha256: Sha256 = Field(description="The part's SHA-256, as its URL was asked for with")


class CompleteRequest(_Request):
    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PARTS)


class CompleteResponse(_Model):
    fileId: str
    status: Status


class ErrorDetail(_Model):
    code: str
    message: str


class Scan(_Model):
    status: ScanStatus = Field(description="The malware scan: `pending` until its result, then `clean`, `infected`, "
                                           "`unscannable` or `failed`; `off` when the stack does not scan (the file "
                                           "was released unscanned)")
    threats: list[str] = Field(description="What the scan found, when `infected`")


class File(_Model):
    fileId: str
    filename: str
    contentType: str | None
    size: int | None
    status: Status
    createdAt: str
    updatedAt: str
    metadata: dict[str, Any] | None
    error: ErrorDetail | None
    scan: Scan
    thumbnailUrl: str | None = Field(description="A short-lived link to the image's thumbnail (WebP), or null; "
                                                  "only once the file is released (scan `clean` or `off`)")
    sha256: str | None = Field(description="The SHA-256 S3 verified the bytes against: base64, or for a multipart "
                                              "upload S3's composite form `<base64>-<parts>`; null if none was sent")


class FileList(_Model):
    items: list[File]
    nextCursor: str | None


class Download(_Model):
    url: str
    expiresAt: str


class Allowance(_Model):
    used: int
    allowed: int


class Usage(_Model):
    bytes: Allowance = Field(description="Pending uploads count at their declared size, the others at their real size")
    files: Allowance = Field(description="Every file the caller has, pending uploads included")


class ErrorBody(_Model):
    error: ErrorDetail


class GatewayError(BaseModel):
    """What API Gateway itself answers, e.g. when its JWT authorizer refuses a token."""

    message: str


Unauthorized = GatewayError | ErrorBody
