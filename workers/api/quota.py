"""Per-user quotas, the API's side: a ticket reserves its declared bytes and one
file, a ticket whose upload can no longer arrive is reclaimed when room runs
out and whenever `GET /usage` reports. The accounting itself is workers/storage/usage.py;
the limits come from the function's environment (contract/quotas.py)."""

from __future__ import annotations

import functools
import os
from datetime import datetime, timedelta
from typing import Any

from contract.http import ABORT_INCOMPLETE_MULTIPART_DAYS
from contract.keys import FileKey
from contract.quotas import GiB, Quotas
from contract.table import STATUS_PENDING
from workers.api.errors import ApiError, quota_exceeded
from workers.api.limits import UPLOAD_URL_EXPIRY_S
from workers.storage import api_records, clients, dynamo, objects, records, usage

# A presigned POST or PUT cannot start once its URL has expired; one still streaming
# then gets this much longer before its ticket may be reclaimed.
POST_GRACE_S = UPLOAD_URL_EXPIRY_S
# Tickets reclaimed for one request at most (a few calls each), well inside the API's timeout.
RECLAIM_BATCH = 10


@functools.cache
def limits() -> Quotas:
    return Quotas.from_variables(os.environ)


def issue_ticket(table, file_key: FileKey, **fields) -> dict[str, Any]:
    """usage.reserve_ticket within the owner's quota. When there is no room,
    the owner's expired tickets are reclaimed and the ticket tried once more;
    still no room is a 403 quota_exceeded."""
    reserve = functools.partial(usage.reserve_ticket, table, file_key, limits(),
                                reclaim_after=reclaim_after(fields["upload"], fields["at"]), **fields)
    try:
        return reserve()
    except usage.OverQuota as over:
        if over.size > limits().max_bytes or not reclaim_expired(file_key.owner_id, fields["at"]):
            raise exceeded(over) from over
    try:
        return reserve()
    except usage.OverQuota as over:
        raise exceeded(over) from over


def reclaim_after(upload: dict[str, Any], issued: datetime) -> datetime:
    """When no object can arrive for a ticket any more: its presigned POST or
    PUT has expired (plus the grace), or the bucket has aborted its multipart upload."""
    if upload["method"] in ("POST", "PUT"):
        return issued + timedelta(seconds=UPLOAD_URL_EXPIRY_S + POST_GRACE_S)
    return issued + timedelta(days=ABORT_INCOMPLETE_MULTIPART_DAYS)


def reclaim_expired(owner_id: str, now: datetime) -> int:
    """Give back the owner's tickets past their reclaim time whose object is not
    in the bucket; one that is stays for the worker, however late its event.
    Each reclaimed ticket's file is deleted, as a cancelled upload's is.
    Returns how many were given back."""
    table = clients.table()
    given_back = 0
    for ticket in usage.expired_tickets(table, owner_id, now, RECLAIM_BATCH):
        item = records.get(table, owner_id, ticket["fileId"])
        if item is None:
            given_back += usage.release_ticket(table, owner_id, ticket)
            continue
        if item["status"] == STATUS_PENDING:
            if _object_arrived(item):
                continue
            api_records.mark_deleted(table, owner_id, item["fileId"], now)
        given_back += usage.release(table, owner_id, item["fileId"], item)
    return given_back


def _object_arrived(item: dict[str, Any]) -> bool:
    s3, bucket = clients.s3(), clients.bucket_name()
    # Aborted before looking, so no completion can slip in after the look.
    objects.abort_upload(s3, bucket, item)
    # A listing, not a HEAD: without s3:ListBucket, which the role does not
    # need otherwise, S3 answers a HEAD of a missing key with 403.
    return objects.exists(s3, bucket, item["key"])


def exceeded(over: usage.OverQuota) -> ApiError:
    allowed, used = limits(), over.usage
    if used.files >= allowed.max_files:
        return quota_exceeded(f"Quota full: {used.files} files used of {allowed.max_files} allowed; "
                              "delete some to upload more")
    return quota_exceeded(
        f"size: {over.size} bytes ({_gib(over.size)}) do not fit: {used.bytes} bytes used of {allowed.max_bytes} "
        f"allowed ({_gib(used.bytes)} of {_gib(allowed.max_bytes)})"
    )


def _gib(size: int) -> str:
    return f"{size / GiB:.2f} GiB"


def usage_of(owner_id: str) -> dict[str, Any]:
    """What the owner holds, once their expired tickets are given back. The
    dashboard refuses a file that does not fit what this reports, so it never
    sends the ticket that would reclaim them; without this a ticket nobody used
    would hold its room for good."""
    reclaim_expired(owner_id, dynamo.now())
    used, allowed = usage.read(clients.table(), owner_id), limits()
    return {
        "bytes": {"used": used.bytes, "allowed": allowed.max_bytes},
        "files": {"used": used.files, "allowed": allowed.max_files},
    }
