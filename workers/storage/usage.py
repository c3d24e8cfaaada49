"""What each user holds against their quota, kept exact by the same writes that
change their files.

Besides the file records, a user's partition holds (keys in contract/table.py):
- the usage item: the `bytes` and `files` the user holds;
- a ticket item for each upload ticket whose object has not arrived yet, sorted
  by when it may be reclaimed, with the bytes it reserved. It has no TTL, so a
  ticket nobody used can still be given back after TTL has reaped its record.

A file record's `charged` (contract.table.CHARGED) is what that file counts
for in the usage item: its declared size while pending, its real size once the
object has arrived. Every change of it happens in one transaction with the same change of
the usage item, conditional on the value it replaces, so no retry, duplicate
delivery or race counts a file twice or gives it back twice.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from contract.keys import FileKey
from contract.quotas import Quotas
from contract.table import (
    CHARGED,
    PARTITION_KEY,
    SORT_KEY,
    STATUS_DELETED,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_PROCESSED,
    TICKET,
    TICKET_SORT_KEY_PREFIX,
    USAGE_BYTES,
    USAGE_FILES,
    USAGE_SORT_KEY,
    ticket_sk,
    user_pk,
)
from workers.errors import error_code, is_condition_failed
from workers.storage import api_records, records
from workers.storage.dynamo import deserialize, from_dynamo, to_dynamo

if TYPE_CHECKING:
    from workers.storage.ingest_records import RecordedState

_NAMES = {"#bytes": USAGE_BYTES, "#files": USAGE_FILES}
# A write that lost a race on the same file is tried again with what the item
# holds by then; DynamoDB cancels a transaction that meets another on an item.
_ATTEMPTS = 3


@dataclass(frozen=True)
class Usage:
    bytes: int = 0
    files: int = 0

    @classmethod
    def of(cls, item: dict[str, Any] | None) -> Usage:
        item = item or {}
        return cls(int(item.get(USAGE_BYTES, 0)), int(item.get(USAGE_FILES, 0)))


class OverQuota(Exception):
    """A ticket that does not fit: `usage` is what the user held when it was refused."""

    def __init__(self, usage: Usage, size: int) -> None:
        super().__init__(f"{size} bytes do not fit beside {usage}")
        self.usage = usage
        self.size = size


class Contended(Exception):
    """The item kept changing under the write; the caller's request is retried."""


def usage_key(owner_id: str) -> dict[str, str]:
    return {PARTITION_KEY: user_pk(owner_id), SORT_KEY: USAGE_SORT_KEY}


def ticket_key(owner_id: str, sort_key: str) -> dict[str, str]:
    return {PARTITION_KEY: user_pk(owner_id), SORT_KEY: sort_key}


def read(table, owner_id: str) -> Usage:
    return Usage.of(table.get_item(Key=usage_key(owner_id), ConsistentRead=True).get("Item"))


# --- Tickets (the API) -------------------------------------------------------------


def reserve_ticket(table, file_key: FileKey, quotas: Quotas, *, reclaim_after: datetime, **fields) -> dict[str, Any]:
    """A ticket's pending record (api_records.pending_record), its ticket item
    and its reservation, in one write: all three, or none and OverQuota."""
    owner_id, size = file_key.owner_id, fields["size"]
    if size > quotas.max_bytes:
        raise OverQuota(read(table, owner_id), size)
    sort_key = ticket_sk(int(reclaim_after.timestamp()), file_key.file_id)
    record = {**api_records.pending_record(file_key, **fields), CHARGED: size, TICKET: sort_key}
    # The usage item may not exist yet; once it does, it must keep room for this file.
    within = ("(attribute_not_exists(#bytes) OR #bytes <= :room) AND "
              "(attribute_not_exists(#files) OR #files <= :file_room)")
    try:
        _transact(table, [
            {"Put": {"TableName": table.name, "Item": to_dynamo(record),
                     "ConditionExpression": api_records.NEW_ITEM}},
            {"Put": {"TableName": table.name, "Item": {**ticket_key(owner_id, sort_key), "fileId": file_key.file_id,
                                                       USAGE_BYTES: size}}},
            _add(table, owner_id, size, 1, condition=within,
                 values={":room": quotas.max_bytes - size, ":file_room": quotas.max_files - 1}),
        ])
    except _Refused as refused:
        if not refused.failed[2]:
            raise
        raise OverQuota(Usage.of(refused.old[2]), size) from None
    return record


def expired_tickets(table, owner_id: str, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` of the owner's ticket items whose reclaim time has come, oldest first."""
    response = table.query(
        KeyConditionExpression=Key(PARTITION_KEY).eq(user_pk(owner_id))
        & Key(SORT_KEY).between(TICKET_SORT_KEY_PREFIX, ticket_sk(int(now.timestamp()), "~")),
        ConsistentRead=True,
        Limit=limit,
    )
    return [from_dynamo(item) for item in response.get("Items", [])]


def release_ticket(table, owner_id: str, ticket: dict[str, Any]) -> bool:
    """Give back a ticket whose record is gone: TTL reaped it before anyone
    reclaimed the ticket. While the record exists this is refused, and
    `release` (which removes the ticket item too) is the way."""
    try:
        _transact(table, [
            {"ConditionCheck": {"TableName": table.name, "Key": records.key_of(owner_id, ticket["fileId"]),
                                "ConditionExpression": f"attribute_not_exists({PARTITION_KEY})"}},
            {"Delete": {"TableName": table.name, "Key": ticket_key(owner_id, ticket[SORT_KEY]),
                        "ConditionExpression": f"attribute_exists({PARTITION_KEY})"}},
            _add(table, owner_id, -ticket[USAGE_BYTES], -1),
        ])
    except _Refused:
        return False
    return True


def release(table, owner_id: str, file_id: str, item: dict[str, Any] | None) -> bool:
    """Give back what a deleted file counted for, and drop its ticket item if it
    still has one. `item` is the record as last read; the write checks that the
    file is deleted and still charged that much, and removes the charge, so only
    one release ever succeeds. Returns whether this one did."""
    for _ in range(_ATTEMPTS):
        if item is None or item.get(CHARGED) is None:
            return False
        charged = item[CHARGED]
        actions = [{"Update": {
            "TableName": table.name,
            "Key": records.key_of(owner_id, file_id),
            "UpdateExpression": f"REMOVE {CHARGED}",
            "ConditionExpression": f"{CHARGED} = :charged AND #status = :deleted",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":charged": charged, ":deleted": STATUS_DELETED},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}]
        if item.get(TICKET):
            actions.append({"Delete": {"TableName": table.name, "Key": ticket_key(owner_id, item[TICKET])}})
        actions.append(_add(table, owner_id, -charged, -1))
        try:
            _transact(table, actions)
            return True
        except _Refused as refused:
            # Released already, not deleted, or charged otherwise by now (the
            # object arrived after `item` was read): only the last is tried again.
            item = refused.old[0]
            if item is not None and item.get("status") != STATUS_DELETED:
                return False
    raise Contended(f"the charge of file {file_id} kept changing")


# --- Objects (the worker) ----------------------------------------------------------


def record_object_state(table, file_key: FileKey, order: str, item: dict[str, Any] | None, state: RecordedState, *,
                        at: datetime, ticket_version: str | None = None, scanning: bool) -> bool:
    """Record what the worker learned about an object
    (ingest_records.object_state_update), and move the file's charge to the
    object's real size (from its declared size, or nothing for an object that
    came without a ticket) and drop its ticket item. `item` is the record as
    last read. Still one write: a plain UpdateItem when only the record
    changes, else a transaction. Returns False when a newer event or a delete
    had already been applied, or the ticket was spent on another version
    (`ingest_records.refuses`). `scanning`: whether the stack scans."""
    # Only the worker records objects, and its init has imported this already;
    # imported here, the API's cold start does not pay for it (docs/cold-start.md).
    from workers.storage import ingest_records

    owner_id, size = file_key.owner_id, state.size or 0
    for _ in range(_ATTEMPTS):
        charged = item.get(CHARGED) if item else None
        update = ingest_records.object_state_update(file_key, order, state, at=at, charge=(charged, size),
                                                    ticket_version=ticket_version, scanning=scanning,
                                                    first=item is None)
        others = []
        if item and item.get("status") == STATUS_PENDING and item.get(TICKET):
            others.append({"Delete": {"TableName": table.name, "Key": ticket_key(owner_id, item[TICKET])}})
        if charged != size:
            others.append(_add(table, owner_id, size - (charged or 0), 0 if charged is not None else 1))
        try:
            if others:
                _transact(table, [{"Update": {"TableName": table.name, **update,
                                              "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}, *others])
            else:
                table.update_item(**update, ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return True
        except _Refused as refused:
            old = refused.old[0]
        except ClientError as exc:
            if not is_condition_failed(exc):
                raise
            old = deserialize(exc.response["Item"]) if exc.response.get("Item") else None
        if old is not None and ingest_records.refuses(old, order, ticket_version):
            return False
        # Only the charge differed: another write moved it after `item` was read.
        item = old
    raise Contended(f"the charge of file {file_key.file_id} kept changing")


# --- Files stored before quotas (ops) -------------------------------------------------


def charge_stored(table, owner_id: str, file_id: str, size: int) -> bool:
    """Count a file that arrived before quotas existed (processed or failed,
    never charged) at `size`, the size its record holds. Once only, and never
    over a charge the worker made meanwhile; a newer version's write moves
    the charge from there. Returns whether this call charged it."""
    try:
        _transact(table, [
            {"Update": {"TableName": table.name, "Key": records.key_of(owner_id, file_id),
                        "UpdateExpression": f"SET {CHARGED} = :size",
                        "ConditionExpression": f"attribute_not_exists({CHARGED}) AND #status IN (:processed, :failed)",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":size": size, ":processed": STATUS_PROCESSED,
                                                      ":failed": STATUS_FAILED}}},
            _add(table, owner_id, size, 1),
        ])
    except _Refused:
        return False
    return True


# --- Writing -------------------------------------------------------------------------


def _add(table, owner_id: str, bytes_: int, files: int, condition: str | None = None,
         values: dict[str, int] | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "TableName": table.name,
        "Key": usage_key(owner_id),
        "UpdateExpression": "ADD #bytes :bytes, #files :files",
        "ExpressionAttributeNames": _NAMES,
        "ExpressionAttributeValues": {":bytes": bytes_, ":files": files, **(values or {})},
    }
    if condition:
        update.update(ConditionExpression=condition, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    return {"Update": update}


class _Refused(Exception):
    """A transaction a condition cancelled: `failed[i]` says whether action i's
    condition failed, `old[i]` is the item it found (when it asked for it)."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__([reason.get("Code") for reason in reasons])
        self.failed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
        self.old = [deserialize(reason["Item"]) if reason.get("Item") else None for reason in reasons]


def _transact(table, actions: list[dict[str, Any]]) -> None:
    """TransactWriteItems through the table's own client, which takes plain
    Python values. A transaction cancelled only because another one held an
    item at that moment is tried again."""
    for attempt in range(_ATTEMPTS):
        try:
            table.meta.client.transact_write_items(TransactItems=actions)
            return
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons", [])
            codes = {reason.get("Code") for reason in reasons}
            if "ConditionalCheckFailed" in codes:
                raise _Refused(reasons) from exc
            if codes - {"None", "TransactionConflict"} or attempt == _ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, 0.05 * 2 ** attempt))
