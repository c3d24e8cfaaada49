"""The worker's writes to file records, idempotent and in order.

Every write that comes from an S3 event carries that event's order key (`seq`)
and is conditional on being newer than what the item already holds, so a
duplicate or a late, older event changes nothing. A failed condition is the
expected outcome of such a write, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from contract.keys import FileKey
from contract.scan import SCAN_INFECTED, initial_state
from contract.table import (
    ATTENTION_INDEX_PARTITION_KEY,
    ATTENTION_INDEX_SORT_KEY,
    ATTENTION_STATUSES,
    CHARGED,
    LIST_INDEX_PARTITION_KEY,
    LIST_INDEX_SORT_KEY,
    PARTITION_KEY,
    REPLAY_REQUESTED,
    SCAN_INDEX,
    SCAN_INDEX_PARTITION_KEY,
    SCAN_INDEX_SORT_KEY,
    SCAN_PENDING_PK,
    STATUS_DELETED,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_PROCESSED,
    TTL_ATTRIBUTE,
    attention_pk,
    attention_sk,
    list_sk,
    scan_pending_sk,
    user_pk,
)
from workers.errors import is_condition_failed
from workers.storage.dynamo import conditional_update, deserialize, from_dynamo, iso, now, to_dynamo
from workers.storage.records import LEAVE_INDEXES, NOT_DELETED, deletion_ttl, key_of

_NEWER = "(attribute_not_exists(seq) OR seq < :seq)"
# Extraction starts not yet followed by a recorded state (see ExtractionStart).
ATTEMPTS = "attempts"
# A ticket is spent once an object version is recorded for it: only that same
# version, or a replay that asked for it, may be examined or recorded again
# (spent_on_another says the same of an item in hand).
_UNSPENT = (f"(attribute_not_exists(versionId) OR attribute_type(versionId, :null) OR versionId = :ticket_vid "
            f"OR attribute_exists({REPLAY_REQUESTED}))")


@dataclass(frozen=True)
class RecordedState:
    """What the worker records about an object: processed with its metadata, or
    failed with the reason the file itself cannot be accepted. The object's
    facts are what describing it said (HeadObject's, from its first ranged
    GET), none when it could not be described."""

    status: str
    metadata: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    thumbnail_key: str | None = None
    size: int | None = None
    content_type: str | None = None
    etag: str | None = None
    version_id: str | None = None
    # When S3 stored the object: no event about it can be older.
    last_modified: datetime | None = None

    @classmethod
    def processed(cls, head: dict, metadata: dict[str, Any], thumbnail_key: str | None) -> RecordedState:
        return cls(STATUS_PROCESSED, metadata=metadata, thumbnail_key=thumbnail_key, **_described(head))

    @classmethod
    def failed(cls, code: str, message: str, head: dict | None = None) -> RecordedState:
        return cls(STATUS_FAILED, error={"code": code, "message": message}, **_described(head or {}))


def _described(head: dict) -> dict[str, Any]:
    return {
        "size": head.get("ContentLength"),
        "content_type": head.get("ContentType"),
        "etag": head.get("ETag", "").strip('"') or None,
        "version_id": head.get("VersionId"),
        "last_modified": head.get("LastModified"),
    }


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
    condition = f"attribute_exists({PARTITION_KEY}) AND {_NEWER} AND {NOT_DELETED}"
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
        counted = conditional_update(
            self._table,
            Key=key_of(self._file_key.owner_id, self._file_key.file_id),
            UpdateExpression=f"ADD {ATTEMPTS} :one",
            ConditionExpression=f"attribute_exists({PARTITION_KEY}) AND {_NEWER} AND {NOT_DELETED}",
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
        conditional_update(
            self._table,
            Key=key_of(self._file_key.owner_id, self._file_key.file_id),
            UpdateExpression=f"ADD {ATTEMPTS} :minus",
            ConditionExpression=f"{ATTEMPTS} > :zero",
            ExpressionAttributeValues={":minus": -1, ":zero": 0},
        )
        self._counted = False


def object_state_update(file_key: FileKey, order: str, state: RecordedState, *, at: datetime,
                        charge: tuple[int | None, int], ticket_version: str | None = None,
                        scanning: bool, first: bool = False) -> dict[str, Any]:
    """The UpdateItem that records an object's state, conditional on the event
    being newer than what the item holds and the file not deleted. The attempt
    count goes: whatever state this is, the attempt finished. `charge` is
    (what the item is charged now, None for nothing; what it will be): the
    write also moves `charged`, only from that value. `ticket_version` is the
    event's object version: the write is refused if the ticket was spent on
    another one since the event was checked (`refuses`). `scanning`: whether
    the stack scans, for a record that has no scan state yet (an object put
    outside the API); a scan result already recorded stays. `first`: the
    write creates the record, which then waits for its scan in the scan index
    (a ticket's record waits there from the start)."""
    stamp = iso(at)
    names = {"#status": "status", "#key": "key", "#error": "error", "#size": "size", "#scan": "scan"}
    values: dict[str, Any] = {
        ":seq": order,
        ":deleted": STATUS_DELETED,
        ":status": state.status,
        ":owner": file_key.owner_id,
        ":fid": file_key.file_id,
        ":key": file_key.key,
        ":filename": file_key.name,
        ":ct": state.content_type,
        ":size": state.size,
        ":etag": state.etag,
        ":vid": state.version_id,
        ":metadata": to_dynamo(state.metadata),
        ":error": state.error,
        ":thumb": state.thumbnail_key,
        ":now": stamp,
        ":gsi1pk": user_pk(file_key.owner_id),
        ":gsi1sk": list_sk(stamp, file_key.file_id),
        ":scan": {"status": initial_state(scanning)},
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
        "#scan = if_not_exists(#scan, :scan)",
        f"{LIST_INDEX_PARTITION_KEY} = :gsi1pk",
        f"{LIST_INDEX_SORT_KEY} = if_not_exists({LIST_INDEX_SORT_KEY}, :gsi1sk)",
    ]
    # The object arrived: an unused ticket's expiry no longer applies.
    removes = [TTL_ATTRIBUTE, ATTEMPTS, REPLAY_REQUESTED]
    if state.status in ATTENTION_STATUSES:
        values[":gsi2pk"] = attention_pk(state.status)
        values[":gsi2sk"] = attention_sk(stamp, file_key.file_id)
        sets += [f"{ATTENTION_INDEX_PARTITION_KEY} = :gsi2pk", f"{ATTENTION_INDEX_SORT_KEY} = :gsi2sk"]
    else:
        removes += [ATTENTION_INDEX_PARTITION_KEY, ATTENTION_INDEX_SORT_KEY]
    if scanning and first:
        # No result can be recorded before the record exists (NoRecordYet), so this never re-adds a finished scan.
        values[":gsi3pk"], values[":gsi3sk"] = SCAN_PENDING_PK, scan_pending_sk(stamp, file_key.file_id)
        sets += [f"{SCAN_INDEX_PARTITION_KEY} = :gsi3pk", f"{SCAN_INDEX_SORT_KEY} = :gsi3sk"]
    condition = f"{_NEWER} AND {NOT_DELETED}"
    if ticket_version is not None:
        condition += f" AND {_UNSPENT}"
        values.update({":ticket_vid": ticket_version, ":null": "NULL"})
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
    old = conditional_update(
        table,
        Key=key_of(file_key.owner_id, file_key.file_id),
        UpdateExpression=(
            "SET #status = :deleted, seq = :seq, updatedAt = :now, ownerId = :owner, "
            f"fileId = :fid, #key = :key, {TTL_ATTRIBUTE} = :ttl {LEAVE_INDEXES}"
        ),
        # Removal wins a tie (see is_superseded_removal); deleted stays deleted.
        ConditionExpression=f"(attribute_not_exists(seq) OR seq <= :seq) AND {NOT_DELETED}",
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


@dataclass(frozen=True)
class ScanOutcome:
    """What a scan result did: `applied`, and the record as the write found it
    (None when the result changed nothing)."""

    applied: bool
    old: dict[str, Any] | None = None


class NoRecordYet(Exception):
    """A scan result for a file whose record does not exist yet: an object put
    outside the API, whose ObjectCreated event the worker has not handled.
    Retried, so the result waits for the record instead of being lost."""


# Only a result newer than the one recorded for the same version applies, and
# only for the version the file is (or, before extraction, may become).
_SCAN_APPLIES = (f"attribute_exists({PARTITION_KEY}) AND {NOT_DELETED} "
                 "AND (attribute_not_exists(versionId) OR attribute_type(versionId, :null) OR versionId = :vid) "
                 "AND (attribute_not_exists(#scan.scannedAt) OR #scan.versionId <> :vid OR #scan.scannedAt < :at)")


def apply_scan_result(table, file_key: FileKey, version_id: str, state: str, threats: list[str],
                      scanned_at: datetime, *, drop_thumbnail: bool) -> ScanOutcome:
    """Record GuardDuty's result for one object version. A duplicate, a result
    older than the recorded one, a result for a version the file is not, and a
    result for a deleted file change nothing. `drop_thumbnail`: the result is
    `infected`, so the record stops naming a thumbnail (the caller removes the
    object). Raises NoRecordYet when there is no record to apply it to."""
    removes = [SCAN_INDEX_PARTITION_KEY, SCAN_INDEX_SORT_KEY, *(["thumbnailKey"] if drop_thumbnail else [])]
    update = f"SET #scan = :scan, updatedAt = :now REMOVE {', '.join(removes)}"
    try:
        old = table.update_item(
            Key=key_of(file_key.owner_id, file_key.file_id),
            UpdateExpression=update,
            ConditionExpression=_SCAN_APPLIES,
            ExpressionAttributeNames={"#status": "status", "#scan": "scan"},
            ExpressionAttributeValues={
                ":scan": {"status": state, "threats": threats, "versionId": version_id, "scannedAt": iso(scanned_at)},
                ":now": iso(now()), ":deleted": STATUS_DELETED, ":null": "NULL", ":vid": version_id,
                ":at": iso(scanned_at),
            },
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ).get("Attributes", {})
    except ClientError as exc:
        if not is_condition_failed(exc):
            raise
        if exc.response.get("Item") is None:
            raise NoRecordYet(f"file {file_key.file_id} has no record yet") from exc
        return ScanOutcome(applied=False)
    return ScanOutcome(applied=True, old=from_dynamo(old))


def drop_infected_thumbnail(table, file_key: FileKey, thumbnail_key: str) -> bool:
    """Stop naming `thumbnail_key` if the record's scan found the version it
    describes infected: the result arrived while the file was extracted.
    True when it did, and the caller removes the object."""
    return conditional_update(
        table,
        Key=key_of(file_key.owner_id, file_key.file_id),
        UpdateExpression="REMOVE thumbnailKey",
        ConditionExpression="thumbnailKey = :thumb AND #scan.#status = :infected AND #scan.versionId = versionId",
        ExpressionAttributeNames={"#status": "status", "#scan": "scan"},
        ExpressionAttributeValues={":thumb": thumbnail_key, ":infected": SCAN_INFECTED},
    ) is not None


def request_replay(table, owner_id: str, file_id: str) -> bool:
    """Let the next object version of this file be examined although its
    ticket is spent (`ops replay`). False when the file is gone."""
    return conditional_update(
        table,
        Key=key_of(owner_id, file_id),
        UpdateExpression=f"SET {REPLAY_REQUESTED} = :at",
        ConditionExpression=f"attribute_exists({PARTITION_KEY}) AND {NOT_DELETED}",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":at": iso(now()), ":deleted": STATUS_DELETED},
    ) is not None


def count_scan_stuck(table, before: datetime) -> int:
    """Files waiting for their scan since before `before`, from the sparse
    scan index: a Query counting, never a Scan, and never an item read. An
    upload ticket never used waits there too (still `pending`); it is the
    TTL's, not on-call's, and is not counted."""
    query: dict[str, Any] = {
        "IndexName": SCAN_INDEX,
        "KeyConditionExpression": "#pk = :pk AND #sk < :before",
        "FilterExpression": "#status <> :ticket",
        "ExpressionAttributeNames": {"#pk": SCAN_INDEX_PARTITION_KEY, "#sk": SCAN_INDEX_SORT_KEY,
                                     "#status": "status"},
        "ExpressionAttributeValues": {":pk": SCAN_PENDING_PK, ":before": iso(before), ":ticket": STATUS_PENDING},
        "Select": "COUNT",
    }
    count = 0
    while True:
        page = table.query(**query)
        count += page["Count"]
        if "LastEvaluatedKey" not in page:
            return count
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
