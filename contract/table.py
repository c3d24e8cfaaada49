"""The metadata table: keys, indexes, statuses and expiry. Deployed by Pulumi,
provisioned by the local stack, written by the workers and queried by ops.

One record per file, addressed by owner and file id: a GetItem with the caller's
own `sub` can only ever find the caller's files, which makes the owner check
structural rather than a comparison someone can forget.
"""

from __future__ import annotations

from contract.ingest import INGEST

PARTITION_KEY = "pk"  # USER#{ownerId}
SORT_KEY = "sk"  # FILE#{fileId}, or one of the user's bookkeeping items below
FILE_SORT_KEY_PREFIX = "FILE#"
# Next to a user's files, and in no index (so neither the listing nor on-call
# ever sees them): what the user holds against the quota, the reservation of
# each upload ticket whose object has not arrived, sorted by when it may be
# reclaimed, and the count of requests in each rate-limit window.
USAGE_SORT_KEY = "USAGE"
TICKET_SORT_KEY_PREFIX = "TICKET#"  # TICKET#{reclaimAfter, epoch seconds, 12 digits}#{fileId}
RATE_SORT_KEY_PREFIX = "RATE#"  # RATE#{action}#{window start, epoch seconds}
# The listing index: a user's files newest first, without a Scan.
LIST_INDEX = "byOwnerCreated"
LIST_INDEX_PARTITION_KEY = "gsi1pk"  # USER#{ownerId}
LIST_INDEX_SORT_KEY = "gsi1sk"  # {createdAt}#{fileId}
# The sparse on-call index: only failed and pending files carry these
# attributes, so a Query lists them across owners without a Scan.
ATTENTION_INDEX = "byAttention"
ATTENTION_INDEX_PARTITION_KEY = "gsi2pk"  # STATUS#{pending|failed}
ATTENTION_INDEX_SORT_KEY = "gsi2sk"  # {updatedAt}#{fileId}
# The sparse index of files waiting for their malware scan: a file carries
# these from its upload ticket (or first record) until a result is recorded,
# so on-call finds scans that never came back without a Scan.
SCAN_INDEX = "byScanPending"
SCAN_INDEX_PARTITION_KEY = "gsi3pk"  # SCAN#pending
SCAN_INDEX_SORT_KEY = "gsi3sk"  # {since}#{fileId}
# Every index as (partition key, sort key), and every attribute a key uses.
INDEXES = {
    LIST_INDEX: (LIST_INDEX_PARTITION_KEY, LIST_INDEX_SORT_KEY),
    ATTENTION_INDEX: (ATTENTION_INDEX_PARTITION_KEY, ATTENTION_INDEX_SORT_KEY),
    SCAN_INDEX: (SCAN_INDEX_PARTITION_KEY, SCAN_INDEX_SORT_KEY),
}
KEY_ATTRIBUTES = (PARTITION_KEY, SORT_KEY, *(attribute for keys in INDEXES.values() for attribute in keys))
TTL_ATTRIBUTE = "expiresAt"
# On a file record: what the file counts for in its owner's usage item (it
# changes only together with that item), the sort key of its upload ticket's
# item while the object has not arrived, and `ops replay`'s request that the
# next object version be examined although the ticket is spent.
CHARGED = "charged"
TICKET = "ticket"
REPLAY_REQUESTED = "replayRequested"
# On the usage item, what the user holds; on a ticket item, what it reserves.
USAGE_BYTES = "bytes"
USAGE_FILES = "files"

# File statuses as the API shows them; `deleted` records are hidden from it.
STATUS_PENDING = "pending"
STATUS_PROCESSED = "processed"
STATUS_FAILED = "failed"
STATUS_DELETED = "deleted"
ATTENTION_STATUSES = (STATUS_PENDING, STATUS_FAILED)
# The error code of a quarantined file: the worker writes it, on-call lists and replays it.
QUARANTINE_CODE = "processing_crashed"

# Deleted records linger this long (for audit and late events) before TTL reaps them.
DELETED_RECORD_TTL_DAYS = 30
PENDING_RECORD_TTL_S = INGEST.pending_record_ttl_s


def user_pk(owner_id: str) -> str:
    return f"USER#{owner_id}"


def file_sk(file_id: str) -> str:
    return f"{FILE_SORT_KEY_PREFIX}{file_id}"


def ticket_sk(reclaim_after_s: int, file_id: str) -> str:
    # Fixed width, so the sort key orders tickets by when they may be reclaimed.
    return f"{TICKET_SORT_KEY_PREFIX}{reclaim_after_s:012d}#{file_id}"


def rate_sk(action: str, window_start_s: int) -> str:
    return f"{RATE_SORT_KEY_PREFIX}{action}#{window_start_s}"


def list_sk(created_at: str, file_id: str) -> str:
    return f"{created_at}#{file_id}"


def attention_pk(status: str) -> str:
    return f"STATUS#{status}"


def attention_sk(updated_at: str, file_id: str) -> str:
    return f"{updated_at}#{file_id}"


SCAN_PENDING_PK = "SCAN#pending"


def scan_pending_sk(since: str, file_id: str) -> str:
    return f"{since}#{file_id}"
