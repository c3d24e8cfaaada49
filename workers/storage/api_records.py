"""What the API writes to file records and how it lists them: the pending
record an upload ticket starts as, a multipart upload's id and checksum, the
delete, and a caller's files newest first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contract.keys import FileKey
from contract.scan import initial_state
from contract.table import (
    ATTENTION_INDEX_PARTITION_KEY,
    ATTENTION_INDEX_SORT_KEY,
    LIST_INDEX,
    LIST_INDEX_PARTITION_KEY,
    LIST_INDEX_SORT_KEY,
    PARTITION_KEY,
    PENDING_RECORD_TTL_S,
    SCAN_INDEX_PARTITION_KEY,
    SCAN_INDEX_SORT_KEY,
    SCAN_PENDING_PK,
    STATUS_DELETED,
    STATUS_PENDING,
    TTL_ATTRIBUTE,
    attention_pk,
    attention_sk,
    list_sk,
    scan_pending_sk,
    user_pk,
)
from workers.storage.dynamo import conditional_update, from_dynamo, iso
from workers.storage.records import LEAVE_INDEXES, NOT_DELETED, deletion_ttl, key_of

# A record is only ever created once: file ids are fresh.
NEW_ITEM = f"attribute_not_exists({PARTITION_KEY})"


def pending_record(file_key: FileKey, *, filename: str, content_type: str, size: int, upload: dict[str, Any],
                   at: datetime, scanning: bool, sha256: str | None = None) -> dict[str, Any]:
    """The record an upload ticket starts as, written with its reservation
    (usage.reserve_ticket). It carries no `seq`, so the worker's first event
    for the object always applies; `filename` is the declared name, which the
    worker keeps (it only fills the name in when it is missing). `scanning`:
    whether the stack scans, so the file waits for a result (`pending`) or
    says it never gets one (`off`)."""
    stamp = iso(at)
    return {
        **key_of(file_key.owner_id, file_key.file_id),
        "ownerId": file_key.owner_id,
        "fileId": file_key.file_id,
        "key": file_key.key,
        "filename": filename,
        "contentType": content_type,
        "size": size,
        "status": STATUS_PENDING,
        "metadata": None,
        "error": None,
        "upload": upload,
        # Signed into the upload, so S3 stored the object only if its bytes match.
        "sha256": sha256,
        "scan": {"status": initial_state(scanning)},
        "createdAt": stamp,
        "updatedAt": stamp,
        LIST_INDEX_PARTITION_KEY: user_pk(file_key.owner_id),
        LIST_INDEX_SORT_KEY: list_sk(stamp, file_key.file_id),
        ATTENTION_INDEX_PARTITION_KEY: attention_pk(STATUS_PENDING),
        ATTENTION_INDEX_SORT_KEY: attention_sk(stamp, file_key.file_id),
        **({SCAN_INDEX_PARTITION_KEY: SCAN_PENDING_PK, SCAN_INDEX_SORT_KEY: scan_pending_sk(stamp, file_key.file_id)}
           if scanning else {}),
        # A ticket nobody uses expires; the worker removes this when the object arrives.
        TTL_ATTRIBUTE: int((at + timedelta(seconds=PENDING_RECORD_TTL_S)).timestamp()),
    }


def query_owner_files(table, owner_id: str, limit: int,
                      after: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Up to `limit` of the owner's files, newest first, from the list index.
    `after` is (list sort key, file id) of the last item of the previous page.
    Deleted records have left the index, so no filter is needed."""
    params: dict[str, Any] = {
        "IndexName": LIST_INDEX,
        "KeyConditionExpression": f"{LIST_INDEX_PARTITION_KEY} = :owner",
        "ExpressionAttributeValues": {":owner": user_pk(owner_id)},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if after is not None:
        sort_key, file_id = after
        params["ExclusiveStartKey"] = {
            **key_of(owner_id, file_id),
            LIST_INDEX_PARTITION_KEY: user_pk(owner_id),
            LIST_INDEX_SORT_KEY: sort_key,
        }
    return [from_dynamo(item) for item in table.query(**params).get("Items", [])]


def mark_deleted(table, owner_id: str, file_id: str, at: datetime) -> dict[str, Any] | None:
    """Hide the file from the API and let TTL reap the record. Returns the
    record as the write found it, which may name a thumbnail the worker
    recorded after the caller last read it; None when there is no such record
    (it never existed, or TTL already took it)."""
    old = conditional_update(
        table,
        Key=key_of(owner_id, file_id),
        UpdateExpression=f"SET #status = :deleted, updatedAt = :now, {TTL_ATTRIBUTE} = :ttl {LEAVE_INDEXES}",
        ConditionExpression=f"attribute_exists({PARTITION_KEY})",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":deleted": STATUS_DELETED, ":now": iso(at), ":ttl": deletion_ttl(at)},
    )
    return None if old is None else from_dynamo(old)


def set_upload_id(table, owner_id: str, file_id: str, upload_id: str) -> None:
    table.update_item(
        Key=key_of(owner_id, file_id),
        UpdateExpression="SET #upload.uploadId = :id",
        ExpressionAttributeNames={"#upload": "upload"},
        ExpressionAttributeValues={":id": upload_id},
    )


def set_checksum(table, owner_id: str, file_id: str, sha256: str) -> None:
    """The composite SHA-256 S3 computed when it assembled a multipart upload
    from parts it had each verified. Only the attribute is written, so it
    stands whichever of this and the worker's write comes first."""
    conditional_update(
        table,
        Key=key_of(owner_id, file_id),
        UpdateExpression="SET sha256 = :sha256",
        ConditionExpression=f"attribute_exists({PARTITION_KEY}) AND {NOT_DELETED}",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":sha256": sha256, ":deleted": STATUS_DELETED},
    )
