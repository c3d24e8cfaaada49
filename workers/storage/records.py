"""File records in DynamoDB: one item per file, written idempotently and in order.

Every write that comes from an S3 event carries that event's order key (`seq`)
and is conditional on being newer than what the item already holds, so a
duplicate or a late, older event changes nothing. A failed condition is the
expected outcome of such a write, not an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from contract.keys import FileKey
from contract.table import (
    ATTENTION_INDEX_PARTITION_KEY,
    ATTENTION_INDEX_SORT_KEY,
    ATTENTION_STATUSES,
    DELETED_RECORD_TTL_DAYS,
    LIST_INDEX,
    LIST_INDEX_PARTITION_KEY,
    LIST_INDEX_SORT_KEY,
    PARTITION_KEY,
    PENDING_RECORD_TTL_S,
    SORT_KEY,
    STATUS_DELETED,
    STATUS_PENDING,
    TTL_ATTRIBUTE,
    attention_pk,
    file_sk,
    user_pk,
)
from workers.errors import is_condition_failed

_NEWER = "(attribute_not_exists(seq) OR seq < :seq)"
# Extraction starts not yet followed by a recorded state (see ExtractionStart).
ATTEMPTS = "attempts"
# What the file counts for in its owner's usage; it changes only together with
# the usage item (workers/storage/usage.py).
CHARGED = "charged"
# Deleted is terminal: a late ObjectCreated must never resurrect a deleted file.
_NOT_DELETED = "(attribute_not_exists(#status) OR #status <> :deleted)"
# Set by `ops replay` until the replayed copy is recorded (see begin_attempt).
REPLAY_REQUESTED = "replayRequested"
# A ticket is spent once an object version is recorded for it: only that same
# version, or a replay that asked for it, may be examined or recorded again
# (spent_on_another says the same of an item in hand).
_UNSPENT = (f"(attribute_not_exists(versionId) OR attribute_type(versionId, :null) OR versionId = :ticket_vid "
            f"OR attribute_exists({REPLAY_REQUESTED}))")


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def key_of(owner_id: str, file_id: str) -> dict[str, str]:
    return {
        PARTITION_KEY: user_pk(owner_id),
        SORT_KEY: file_sk(file_id),
    }


def to_dynamo(value: Any) -> Any:
    """DynamoDB has no floats: numbers travel as Decimal."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


def get(table, owner_id: str, file_id: str) -> dict[str, Any] | None:
    item = table.get_item(Key=key_of(owner_id, file_id), ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def is_superseded_removal(item: dict[str, Any] | None, order: str) -> bool:
    """True when the item already reflects a newer event, or the file was
    deleted. A removal wins a tie: with the event-time fallback, a create and
    a delete can share a millisecond, and then the object is gone."""
    if item is None:
        return False
    return item.get("status") == STATUS_DELETED or item.get("seq", "") > order


@dataclass(frozen=True)
class Attempt:
    """The outcome of checking an event against the record: `started` is False
    when the item already reflects this event or a newer one (or the file was
    deleted), and `item` is the record as it stands."""

    started: bool
    item: dict[str, Any] | None
    # Extraction starts since the file's record last changed that never finished.
    count: int = 0

    def spent_by(self, version_id: str | None) -> bool:
        """Refused, and the file is another object version than `version_id`:
        one recorded for the same ticket, before or after this one arrived."""
        return not self.started and self.item is not None and spent_on_another(self.item, version_id)


def spent_on_another(item: dict[str, Any], version_id: str | None) -> bool:
    """The file is another object version than `version_id`, and no replay asked for a new one."""
    return (item.get("status") != STATUS_DELETED and version_id is not None
            and item.get("versionId") not in (None, version_id) and REPLAY_REQUESTED not in item)


class Superseded(Exception):
    """A newer event or a delete was recorded after the event was checked."""


def begin_attempt(table, file_key: FileKey, order: str, version_id: str | None = None) -> Attempt:
    """Check that the event still applies, and read the record, in one
    conditional write that changes nothing else. The extraction start itself is
    counted later, once it really begins (`ExtractionStart`).

    Only a record that exists is written: an object that arrived without a
    ticket (put outside the API, or its record lost) starts uncounted rather
    than leave a record with nothing but a count in it.

    `version_id` is the event's object version: once a version is recorded, the
    ticket is spent, and another version is refused (`Attempt.spent_by`)."""
    condition = f"attribute_exists({PARTITION_KEY}) AND {_NEWER} AND {_NOT_DELETED}"
    values: dict[str, Any] = {":zero": 0, ":seq": order, ":deleted": STATUS_DELETED}
    if version_id is not None:
        condition += f" AND {_UNSPENT}"
        values.update({":ticket_vid": version_id, ":null": "NULL"})
    try:
        new = table.update_item(
            Key=key_of(file_key.owner_id, file_key.file_id),
            UpdateExpression=f"SET {ATTEMPTS} = if_not_exists({ATTEMPTS}, :zero)",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )["Attributes"]
    except ClientError as exc:
        if not is_condition_failed(exc):
            raise
        old = exc.response.get("Item")
        if old is None:
            return Attempt(started=True, item=None)
        return Attempt(started=False, item=deserialize(old))
    item = from_dynamo(new)
    return Attempt(started=True, item=item, count=item[ATTEMPTS])


class ExtractionStart:
    """One extraction of a file, counted on its record just before the child is
    forked, and not while the file waits for a slot: when the worker dies, only
    the files being extracted at that moment are charged with it. A start that
    never finishes leaves the count up, which is how a file that kills the
    worker is recognised and quarantined; every applied state resets it, and
    `give_back` takes it back when the invocation fails for any other reason."""

    def __init__(self, table, file_key: FileKey, order: str, recorded: bool) -> None:
        self._table, self._file_key, self._order = table, file_key, order
        # A file without a record starts uncounted (see begin_attempt).
        self._recorded = recorded
        self._counted = False

    def count(self) -> None:
        """Raises Superseded when the event no longer applies: there is nothing to extract for."""
        if not self._recorded:
            return
        counted = _conditional_update(
            self._table,
            Key=key_of(self._file_key.owner_id, self._file_key.file_id),
            UpdateExpression=f"ADD {ATTEMPTS} :one",
            ConditionExpression=f"attribute_exists({PARTITION_KEY}) AND {_NEWER} AND {_NOT_DELETED}",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":one": 1, ":seq": self._order, ":deleted": STATUS_DELETED},
        )
        if counted is None:
            raise Superseded(f"file {self._file_key.file_id} changed while it waited to be extracted")
        self._counted = True

    def give_back(self) -> None:
        if not self._counted:
            return
        # Conditional: a state recorded meanwhile has already reset the count.
        _conditional_update(
            self._table,
            Key=key_of(self._file_key.owner_id, self._file_key.file_id),
            UpdateExpression=f"ADD {ATTEMPTS} :minus",
            ConditionExpression=f"{ATTEMPTS} > :zero",
            ExpressionAttributeValues={":minus": -1, ":zero": 0},
        )
        self._counted = False


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed JSON, as an error response carries it."""
    deserializer = TypeDeserializer()
    return from_dynamo({name: deserializer.deserialize(value) for name, value in item.items()})


def _conditional_update(table, **kwargs) -> dict[str, Any] | None:
    """Run an UpdateItem; return the old item, or None when the condition said no."""
    try:
        return table.update_item(ReturnValues="ALL_OLD", **kwargs).get("Attributes", {})
    except ClientError as exc:
        if is_condition_failed(exc):
            return None
        raise


def apply_object_state(table, file_key: FileKey, order: str, **state) -> bool:
    """Record what the worker learned about an object. Returns False when a newer
    event (or a delete) had already been applied, which leaves the item as it was."""
    return _conditional_update(table, **object_state_update(file_key, order, **state)) is not None


def object_state_update(
    file_key: FileKey,
    order: str,
    *,
    status: str,
    size: int | None,
    content_type: str | None,
    etag: str | None,
    version_id: str | None,
    metadata: dict[str, Any] | None,
    error: dict[str, str] | None,
    at: datetime,
    thumbnail_key: str | None = None,
    charge: tuple[int | None, int] | None = None,
    ticket_version: str | None = None,
) -> dict[str, Any]:
    """The UpdateItem that records an object's state, conditional on the event
    being newer than what the item holds and the file not deleted. The attempt
    count goes: whatever state this is, the attempt finished. `charge` is
    (what the item is charged now, None for nothing; what it will be): the
    write then also moves `charged`, only from that value. `ticket_version`
    is the event's object version: the write is refused if the ticket was
    spent on another one since the event was checked (`refuses`)."""
    stamp = iso(at)
    names = {"#status": "status", "#key": "key", "#error": "error", "#size": "size"}
    values: dict[str, Any] = {
        ":seq": order,
        ":deleted": STATUS_DELETED,
        ":status": status,
        ":owner": file_key.owner_id,
        ":fid": file_key.file_id,
        ":key": file_key.key,
        ":filename": file_key.name,
        ":ct": content_type,
        ":size": size,
        ":etag": etag,
        ":vid": version_id,
        ":metadata": to_dynamo(metadata),
        ":error": error,
        ":thumb": thumbnail_key,
        ":now": stamp,
        ":gsi1pk": user_pk(file_key.owner_id),
        ":gsi1sk": list_sort_key(stamp, file_key.file_id),
    }
    sets = [
        "ownerId = :owner",
        "fileId = :fid",
        "#key = :key",
        "filename = if_not_exists(filename, :filename)",
        "contentType = :ct",
        "#size = :size",
        "etag = :etag",
        "versionId = :vid",
        "metadata = :metadata",
        "#error = :error",
        "thumbnailKey = :thumb",
        "seq = :seq",
        "updatedAt = :now",
        "createdAt = if_not_exists(createdAt, :now)",
        f"{LIST_INDEX_PARTITION_KEY} = :gsi1pk",
        f"{LIST_INDEX_SORT_KEY} = if_not_exists({LIST_INDEX_SORT_KEY}, :gsi1sk)",
    ]
    # The object arrived: an unused ticket's expiry no longer applies.
    removes = [TTL_ATTRIBUTE, ATTEMPTS, REPLAY_REQUESTED]
    if status in ATTENTION_STATUSES:
        values[":gsi2pk"] = attention_pk(status)
        values[":gsi2sk"] = f"{stamp}#{file_key.file_id}"
        sets += [f"{ATTENTION_INDEX_PARTITION_KEY} = :gsi2pk", f"{ATTENTION_INDEX_SORT_KEY} = :gsi2sk"]
    else:
        removes += [ATTENTION_INDEX_PARTITION_KEY, ATTENTION_INDEX_SORT_KEY]
    condition = f"{_NEWER} AND {_NOT_DELETED}"
    if ticket_version is not None:
        condition += f" AND {_UNSPENT}"
        values.update({":ticket_vid": ticket_version, ":null": "NULL"})
    if charge is not None:
        charged, values[":charged"] = charge
        sets.append(f"{CHARGED} = :charged")
        if charged is None:
            condition += f" AND attribute_not_exists({CHARGED})"
        else:
            condition += f" AND {CHARGED} = :was_charged"
            values[":was_charged"] = charged
    # Status last: readers poll on it, and the local emulator applies SET
    # actions one by one, so everything else is in place when it flips.
    sets.append("#status = :status")
    return {
        "Key": key_of(file_key.owner_id, file_key.file_id),
        "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def refuses(item: dict[str, Any], order: str, ticket_version: str | None = None) -> bool:
    """What object_state_update's condition refuses, the charge aside: a
    deleted file, an event no newer than the one the item reflects, or a
    version whose ticket was spent on another."""
    return (item.get("status") == STATUS_DELETED or item.get("seq", "") >= order
            or spent_on_another(item, ticket_version))


def apply_removal(table, file_key: FileKey, order: str, at: datetime) -> bool:
    """Mark the file deleted; it leaves both indexes and TTL reaps it later.
    Returns False when a newer event had won, or the file was already deleted."""
    old = _conditional_update(
        table,
        Key=key_of(file_key.owner_id, file_key.file_id),
        UpdateExpression=(
            "SET #status = :deleted, seq = :seq, updatedAt = :now, ownerId = :owner, "
            f"fileId = :fid, #key = :key, {TTL_ATTRIBUTE} = :ttl "
            f"REMOVE {LIST_INDEX_PARTITION_KEY}, {LIST_INDEX_SORT_KEY}, "
            f"{ATTENTION_INDEX_PARTITION_KEY}, {ATTENTION_INDEX_SORT_KEY}"
        ),
        # Removal wins a tie (see is_superseded_removal); deleted stays deleted.
        ConditionExpression=f"(attribute_not_exists(seq) OR seq <= :seq) AND {_NOT_DELETED}",
        ExpressionAttributeNames={"#status": "status", "#key": "key"},
        ExpressionAttributeValues={
            ":deleted": STATUS_DELETED,
            ":seq": order,
            ":now": iso(at),
            ":owner": file_key.owner_id,
            ":fid": file_key.file_id,
            ":key": file_key.key,
            ":ttl": deletion_ttl(at),
        },
    )
    return old is not None


def deletion_ttl(at: datetime) -> int:
    return int((at + timedelta(days=DELETED_RECORD_TTL_DAYS)).timestamp())


# --- Written by the API ---------------------------------------------------------


# A record is only ever created once: file ids are fresh.
NEW_ITEM = f"attribute_not_exists({PARTITION_KEY})"


def create_pending(table, file_key: FileKey, **fields) -> dict[str, Any]:
    """A pending record alone, charged to no one (see workers/storage/usage.py)."""
    item = pending_record(file_key, **fields)
    table.put_item(Item=to_dynamo(item), ConditionExpression=NEW_ITEM)
    return item


def pending_record(file_key: FileKey, *, filename: str, content_type: str, size: int, upload: dict[str, Any],
                   at: datetime, sha256: str | None = None) -> dict[str, Any]:
    """The record an upload ticket starts as. It carries no `seq`, so the worker's
    first event for the object always applies; `filename` is the declared name,
    which the worker keeps (it only fills the name in when it is missing)."""
    stamp = iso(at)
    item = {
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
        "createdAt": stamp,
        "updatedAt": stamp,
        LIST_INDEX_PARTITION_KEY: user_pk(file_key.owner_id),
        LIST_INDEX_SORT_KEY: list_sort_key(stamp, file_key.file_id),
        ATTENTION_INDEX_PARTITION_KEY: attention_pk(STATUS_PENDING),
        ATTENTION_INDEX_SORT_KEY: f"{stamp}#{file_key.file_id}",
        # A ticket nobody uses expires; the worker removes this when the object arrives.
        TTL_ATTRIBUTE: int((at + timedelta(seconds=PENDING_RECORD_TTL_S)).timestamp()),
    }
    return item


def list_sort_key(created_at: str, file_id: str) -> str:
    return f"{created_at}#{file_id}"


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
    old = _conditional_update(
        table,
        Key=key_of(owner_id, file_id),
        UpdateExpression=(
            f"SET #status = :deleted, updatedAt = :now, {TTL_ATTRIBUTE} = :ttl "
            f"REMOVE {LIST_INDEX_PARTITION_KEY}, {LIST_INDEX_SORT_KEY}, "
            f"{ATTENTION_INDEX_PARTITION_KEY}, {ATTENTION_INDEX_SORT_KEY}"
        ),
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
    _conditional_update(
        table,
        Key=key_of(owner_id, file_id),
        UpdateExpression="SET sha256 = :sha256",
        ConditionExpression=f"attribute_exists({PARTITION_KEY}) AND {_NOT_DELETED}",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":sha256": sha256, ":deleted": STATUS_DELETED},
    )


def request_replay(table, owner_id: str, file_id: str) -> bool:
    """Let the next object version of this file be examined although its
    ticket is spent (`ops replay`). False when the file is gone."""
    return _conditional_update(
        table,
        Key=key_of(owner_id, file_id),
        UpdateExpression=f"SET {REPLAY_REQUESTED} = :at",
        ConditionExpression=f"attribute_exists({PARTITION_KEY}) AND {_NOT_DELETED}",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":at": iso(now()), ":deleted": STATUS_DELETED},
    ) is not None
