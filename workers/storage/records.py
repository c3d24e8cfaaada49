"""The file record: one item per file, addressed by owner and file id. Its
key, reading it, and the clauses its writers share: the worker's writes, in
event order (ingest_records.py), the API's (api_records.py), and those that
move what the file counts for (usage.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contract.scan import SCAN_OFF, SCAN_PENDING
from contract.table import (
    ATTENTION_INDEX_PARTITION_KEY,
    ATTENTION_INDEX_SORT_KEY,
    DELETED_RECORD_TTL_DAYS,
    LIST_INDEX_PARTITION_KEY,
    LIST_INDEX_SORT_KEY,
    PARTITION_KEY,
    SCAN_INDEX_PARTITION_KEY,
    SCAN_INDEX_SORT_KEY,
    SORT_KEY,
    file_sk,
    user_pk,
)
from workers.storage.dynamo import from_dynamo

# Deleted is terminal: a late ObjectCreated must never resurrect a deleted file.
NOT_DELETED = "(attribute_not_exists(#status) OR #status <> :deleted)"
# A deleted file leaves both indexes, whoever deletes it.
LEAVE_INDEXES = (f"REMOVE {LIST_INDEX_PARTITION_KEY}, {LIST_INDEX_SORT_KEY}, "
                 f"{ATTENTION_INDEX_PARTITION_KEY}, {ATTENTION_INDEX_SORT_KEY}, "
                 f"{SCAN_INDEX_PARTITION_KEY}, {SCAN_INDEX_SORT_KEY}")


def key_of(owner_id: str, file_id: str) -> dict[str, str]:
    return {
        PARTITION_KEY: user_pk(owner_id),
        SORT_KEY: file_sk(file_id),
    }


def get(table, owner_id: str, file_id: str) -> dict[str, Any] | None:
    item = table.get_item(Key=key_of(owner_id, file_id), ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def deletion_ttl(at: datetime) -> int:
    return int((at + timedelta(days=DELETED_RECORD_TTL_DAYS)).timestamp())


def scan_of(item: dict[str, Any]) -> dict[str, Any]:
    """The file's scan state, `{"status", "threats"}`. A result holds for the
    object version it was made for: once the record names another version
    (or a result came for a version the file never became), the file waits
    for its own. So a result applied before or after extraction reads the
    same. A record from before scanning existed says `off`."""
    scan = item.get("scan") or {"status": SCAN_OFF}
    status = scan["status"]
    scanned = scan.get("versionId")
    if scanned is not None and item.get("versionId") not in (None, scanned):
        status = SCAN_PENDING
    return {"status": status, "threats": scan.get("threats", []) if status == scan["status"] else []}
