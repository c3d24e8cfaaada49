"""What the HTTP API does, as plain functions of the caller and the request.

Every function takes the caller's `sub` as `owner_id` and reaches records only
through the table key built from it, so another user's file is simply not found.
The API authorizes and signs; file bytes go straight between client and S3.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from contract.http import MAX_FILE_SIZE
from contract.keys import FileKey
from contract.scan import RELEASED_STATES, SCAN_INFECTED, SCAN_PENDING, SCAN_UNSCANNABLE
from contract.table import LIST_INDEX_SORT_KEY, STATUS_DELETED, STATUS_PENDING
from workers.api import cursor, filenames, quota
from workers.api.errors import ApiError, not_found
from workers.api.limits import (
    ALLOWED_CONTENT_TYPES,
    CHECKSUM_ALGORITHM,
    DOWNLOAD_URL_EXPIRY_S,
    MAX_PARTS,
    MIN_PART_SIZE,
    MULTIPART_THRESHOLD,
    THUMBNAIL_URL_EXPIRY_S,
    UPLOAD_URL_EXPIRY_S,
    MiB,
)
from workers.errors import error_code
from workers.storage import api_records, clients, dynamo, objects, records, usage

# S3's answers to a CompleteMultipartUpload that name the client's mistake.
_BAD_PARTS = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}


def plan_parts(size: int) -> tuple[int, int]:
    """(part size, part count) for a multipart upload: whole MiB parts of at least
    S3's minimum, large enough that the file fits in MAX_PARTS."""
    part_size = max(MIN_PART_SIZE, math.ceil(size / MAX_PARTS / MiB) * MiB)
    return part_size, math.ceil(size / part_size)


def create_ticket(owner_id: str, filename: str, content_type: str, size: int,
                  sha256: str | None = None) -> dict[str, Any]:
    """Record a pending file and sign the way to upload it."""
    if size > MAX_FILE_SIZE:
        raise ApiError(413, "too_large", f"size: {size} bytes is over the {MAX_FILE_SIZE}-byte limit")
    if sha256 is not None and size > MULTIPART_THRESHOLD:
        raise ApiError(400, "invalid_request", f"sha256: an upload over {MULTIPART_THRESHOLD} bytes is multipart, "
                                               "and sends a SHA-256 with each part instead")
    file_id = uuid.uuid4().hex
    file_key = FileKey(owner_id, file_id, filenames.safe_name(filename))
    issued = dynamo.now()
    expires_at = dynamo.iso(issued + timedelta(seconds=UPLOAD_URL_EXPIRY_S))
    if size > MULTIPART_THRESHOLD:
        part_size, part_count = plan_parts(size)
        upload: dict[str, Any] = {"method": "MULTIPART", "partSize": part_size, "partCount": part_count,
                                  "checksumAlgorithm": CHECKSUM_ALGORITHM}
    else:
        upload = {"method": "PUT" if sha256 else "POST"}
    # The pending record goes first, so no upload can exist without one.
    quota.issue_ticket(clients.table(), file_key, filename=filename, content_type=content_type, size=size,
                         upload=upload, at=issued, sha256=sha256, scanning=clients.scanning())
    s3, bucket = clients.s3(), clients.bucket_name()
    if upload["method"] == "PUT":
        ticket_upload = {"method": "PUT", **_signed_put(s3, "put_object", {
            "Bucket": bucket, "Key": file_key.key, "ContentType": content_type,
            "ContentLength": size, "ChecksumSHA256": sha256})}
    elif upload["method"] == "POST":
        post = s3.generate_presigned_post(
            Bucket=bucket,
            Key=file_key.key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, size]],
            ExpiresIn=UPLOAD_URL_EXPIRY_S,
        )
        ticket_upload = {"method": "POST", "url": post["url"], "fields": post["fields"]}
    else:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=file_key.key, ContentType=content_type,
                                               ChecksumAlgorithm=CHECKSUM_ALGORITHM)["UploadId"]
        api_records.set_upload_id(clients.table(), owner_id, file_id, upload_id)
        ticket_upload = {**upload, "uploadId": upload_id}
    return {"fileId": file_id, "key": file_key.key, "expiresAt": expires_at, "upload": ticket_upload}


def _signed_put(s3, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """A presigned PUT and the headers it was signed with. SigV4 signs the
    checksum and the length as headers, so S3 refuses a body that differs from
    them in a single byte; the browser sets Content-Length itself."""
    url = s3.generate_presigned_url(operation, Params=params, ExpiresIn=UPLOAD_URL_EXPIRY_S)
    headers = {"x-amz-checksum-sha256": params["ChecksumSHA256"]}
    if params.get("ContentType"):
        headers["Content-Type"] = params["ContentType"]
    return {"url": url, "headers": headers}


def _own_record(owner_id: str, file_id: str) -> dict[str, Any]:
    item = records.get(clients.table(), owner_id, file_id)
    if item is None or item["status"] == STATUS_DELETED:
        raise not_found()
    return item


def _pending_multipart(owner_id: str, file_id: str) -> dict[str, Any]:
    item = _own_record(owner_id, file_id)
    if item["status"] != STATUS_PENDING:
        raise ApiError(409, "not_pending", f"The upload is finished: the file is {item['status']}")
    if not item.get("upload", {}).get("uploadId"):
        raise ApiError(409, "not_multipart", "This upload is a single POST; it has no parts")
    return item


def presign_parts(owner_id: str, file_id: str, checksums: dict[int, str]) -> list[dict[str, Any]]:
    """Part URLs, each signed with its part's SHA-256 and exact length: a part
    cannot carry other bytes, or more of them, so the parts can never add up
    to more than the declared size."""
    item = _pending_multipart(owner_id, file_id)
    upload = item["upload"]
    beyond = [n for n in checksums if n > upload["partCount"]]
    if beyond:
        raise ApiError(400, "invalid_request", f"parts: {beyond[0]} is beyond the upload's {upload['partCount']} parts")
    s3, bucket = clients.s3(), clients.bucket_name()
    return [
        {"partNumber": number, **_signed_put(s3, "upload_part", {
            "Bucket": bucket, "Key": item["key"], "UploadId": upload["uploadId"], "PartNumber": number,
            "ContentLength": part_length(item["size"], upload["partSize"], number),
            "ChecksumSHA256": checksums[number]})}
        for number in sorted(checksums)
    ]


def list_parts(owner_id: str, file_id: str) -> list[dict[str, Any]]:
    """The parts S3 already holds for a pending multipart upload: a client that
    resumes after a reload sends only the others, and trusts S3 over its own notes."""
    item = _pending_multipart(owner_id, file_id)
    pages = clients.s3().get_paginator("list_parts").paginate(
        Bucket=clients.bucket_name(), Key=item["key"], UploadId=item["upload"]["uploadId"]
    )
    try:
        return [
            {"partNumber": part["PartNumber"], "size": part["Size"], "etag": part["ETag"],
             "sha256": part.get("ChecksumSHA256")}
            for page in pages for part in page.get("Parts", [])
        ]
    except ClientError as exc:
        if error_code(exc) == "NoSuchUpload":
            raise ApiError(409, "not_pending", "The upload was already completed or aborted") from exc
        raise


def part_length(size: int, part_size: int, number: int) -> int:
    return min(part_size, size - (number - 1) * part_size)


def complete_upload(owner_id: str, file_id: str, parts: list[tuple[int, str, str]]) -> dict[str, Any]:
    """Assemble a multipart upload from (number, ETag, SHA-256) parts. The record
    stays pending until the worker has seen the object; the response says so."""
    item = _pending_multipart(owner_id, file_id)
    numbers = [number for number, _, _ in parts]
    if len(set(numbers)) != len(numbers):
        raise ApiError(400, "invalid_request", "parts: each partNumber may appear once")
    parts = sorted(parts)
    try:
        _check_parts(owner_id, item, parts)
        # S3 refuses a part whose checksum differs from the one it verified the part's bytes against.
        assembled = clients.s3().complete_multipart_upload(
            Bucket=clients.bucket_name(),
            Key=item["key"],
            UploadId=item["upload"]["uploadId"],
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag, "ChecksumSHA256": sha256}
                                       for n, etag, sha256 in parts]},
        )
    except ClientError as exc:
        code = error_code(exc)
        if code in _BAD_PARTS:
            raise ApiError(400, "invalid_parts", f"parts: S3 refused them ({code})") from exc
        if code == "NoSuchUpload":
            raise ApiError(409, "not_pending", "The upload was already completed or aborted") from exc
        raise
    # S3's own composite of the part checksums it verified, never one computed
    # from what the client claims: an answer without it records no checksum.
    if assembled.get("ChecksumSHA256"):
        api_records.set_checksum(clients.table(), owner_id, file_id, assembled["ChecksumSHA256"])
    return {"fileId": file_id, "status": item["status"]}


def _check_parts(owner_id: str, item: dict[str, Any], parts: list[tuple[int, str, str]]) -> None:
    """Name the first part S3 does not hold with that ETag, instead of leaving the
    client to decode a failed CompleteMultipartUpload. Parts larger than
    declared cannot come through our signed part URLs; if they are there
    anyway, the upload is aborted, not merely refused."""
    pages = clients.s3().get_paginator("list_parts").paginate(
        Bucket=clients.bucket_name(), Key=item["key"], UploadId=item["upload"]["uploadId"]
    )
    uploaded = {part["PartNumber"]: part for page in pages for part in page.get("Parts", [])}
    for number, etag, _ in parts:
        if uploaded.get(number, {}).get("ETag", "").strip('"') != etag.strip('"'):
            raise ApiError(400, "invalid_parts", f"parts: part {number} was not uploaded with that etag")
    total = sum(part["Size"] for part in uploaded.values())
    if total > item["size"]:
        _discard(owner_id, item)
        raise ApiError(413, "too_large", f"parts: they hold {total} bytes, more than the declared {item['size']}; "
                                         "the upload was aborted")


def abort_upload(owner_id: str, file_id: str) -> None:
    """Give up an unfinished upload. Aborting twice is harmless."""
    item = records.get(clients.table(), owner_id, file_id)
    if item is None:
        raise not_found()
    if item["status"] not in (STATUS_PENDING, STATUS_DELETED):
        raise ApiError(409, "not_pending", f"The upload is finished: the file is {item['status']}; delete it instead")
    _discard(owner_id, item)


def delete_file(owner_id: str, file_id: str) -> None:
    """Remove every version of the object and its thumbnail, then hide the record.
    A repeated delete redoes the (idempotent) removal, so a retry after a partial
    failure finishes the job."""
    item = records.get(clients.table(), owner_id, file_id)
    if item is None:
        raise not_found()
    _discard(owner_id, item)


def _discard(owner_id: str, item: dict[str, Any]) -> None:
    s3, bucket = clients.s3(), clients.bucket_name()
    objects.abort_upload(s3, bucket, item)
    for key in filter(None, (item["key"], item.get("thumbnailKey"))):
        objects.delete_all_versions(s3, bucket, key)
    if item["status"] != STATUS_DELETED:
        marked = api_records.mark_deleted(clients.table(), owner_id, item["fileId"], dynamo.now())
        # The worker may have recorded a thumbnail since `item` was read; once
        # the record is deleted, no later write of the worker's can name one.
        if marked and marked.get("thumbnailKey") not in (None, item.get("thumbnailKey")):
            objects.delete_all_versions(s3, bucket, marked["thumbnailKey"])
    # Also after a delete that stopped short of it: a repeated delete finishes the job.
    usage.release(clients.table(), owner_id, item["fileId"], item)


def get_file(owner_id: str, file_id: str) -> dict[str, Any]:
    return public_file(_own_record(owner_id, file_id))


def public_file(item: dict[str, Any]) -> dict[str, Any]:
    """A record as the API shows it: no keys, owner or bookkeeping. A
    thumbnail is shown of a released file only."""
    scan = records.scan_of(item)
    return {
        "fileId": item["fileId"],
        "filename": item["filename"],
        "contentType": item.get("contentType"),
        "size": item.get("size"),
        "status": item["status"],
        "createdAt": item["createdAt"],
        "updatedAt": item["updatedAt"],
        "metadata": item.get("metadata"),
        "error": item.get("error"),
        "scan": scan,
        "thumbnailUrl": _thumbnail_url(item.get("thumbnailKey")) if scan["status"] in RELEASED_STATES else None,
        "sha256": item.get("sha256"),
    }


def _thumbnail_url(key: str | None) -> str | None:
    # The bucket is private; signing is local computation, so every listed image
    # gets its own short-lived link without a call to S3.
    if not key:
        return None
    return clients.s3().generate_presigned_url(
        "get_object", Params={"Bucket": clients.bucket_name(), "Key": key}, ExpiresIn=THUMBNAIL_URL_EXPIRY_S
    )


def list_files(owner_id: str, limit: int, page_cursor: str | None, secret: Callable[[], bytes]) -> dict[str, Any]:
    after = None
    if page_cursor is not None:
        try:
            position = cursor.decode(secret(), owner_id, page_cursor)
        except cursor.InvalidCursor as exc:
            raise ApiError(400, "invalid_cursor", f"cursor: {exc}") from exc
        after = (position.list_sort_key, position.file_id)
    # One extra item tells whether another page exists, so the last page never
    # hands out a cursor that leads to an empty one.
    items = api_records.query_owner_files(clients.table(), owner_id, limit + 1, after)
    page, more = items[:limit], len(items) > limit
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = cursor.encode(
            secret(), owner_id, cursor.Position(last[LIST_INDEX_SORT_KEY], last["fileId"])
        )
    return {"items": [public_file(item) for item in page], "nextCursor": next_cursor}


def download(owner_id: str, file_id: str) -> dict[str, Any]:
    item = _own_record(owner_id, file_id)
    if item["status"] == STATUS_PENDING:
        raise ApiError(409, "not_uploaded", "The file has not been uploaded yet")
    _check_released(records.scan_of(item))
    params = {
        "Bucket": clients.bucket_name(),
        "Key": item["key"],
        "ResponseContentDisposition": filenames.attachment_disposition(item["filename"]),
        "ResponseContentType": _served_type(item.get("contentType")),
    }
    # Pin the version the worker examined, so the bytes are the ones described.
    if item.get("versionId"):
        params["VersionId"] = item["versionId"]
    url = clients.s3().generate_presigned_url("get_object", Params=params, ExpiresIn=DOWNLOAD_URL_EXPIRY_S)
    expires_at = dynamo.iso(dynamo.now() + timedelta(seconds=DOWNLOAD_URL_EXPIRY_S))
    return {"url": url, "expiresAt": expires_at}


def _check_released(scan: dict[str, Any]) -> None:
    """Nothing its malware scan did not clear leaves the bucket (the bucket
    policy refuses the same on AWS, so a bug here cannot leak a file)."""
    status = scan["status"]
    if status in RELEASED_STATES:
        return
    if status == SCAN_PENDING:
        raise ApiError(409, "scan_pending", "The file is being scanned for malware; try again in a few seconds")
    if status == SCAN_INFECTED:
        raise ApiError(403, "infected", f"Malware was found in this file ({', '.join(scan['threats'])}), so it "
                                        "cannot be downloaded. Delete it; its bytes are kept for investigation "
                                        "until then and count against your quota")
    if status == SCAN_UNSCANNABLE:
        raise ApiError(403, "unscannable", "The malware scanner cannot read this file (it is password-protected, "
                                           "or past the scanner's size limits), so it is not released. Upload it "
                                           "without a password, or split it into smaller files")
    raise ApiError(403, "scan_failed", "The malware scan of this file failed, so it is not released. Ask support "
                                       "to scan it again (`ops rescan`), or delete it and upload it again")


def _served_type(content_type: str | None) -> str:
    """The Content-Type a download is served with. S3 would answer with the type
    the object was stored under, and a presigned GET cannot add `nosniff`; so
    only a type a client may declare (none of them renders as a page) is passed
    on, in case an object got another one past the ticket's pinned type."""
    return content_type if content_type in ALLOWED_CONTENT_TYPES else "application/octet-stream"

