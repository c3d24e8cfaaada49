"""A file record's change, read as the outcomes it records (contract/events.py).

The table's stream carries each committed write of a record as its old and new
images, in order. An outcome is a real change between the two: a status the
record did not have, an object version it had not recorded, a scan result it
had not held. A write that changes nothing else (the worker's attempt count,
a replay's mark, a duplicate's refused write, which writes nothing) records no
outcome, so it yields no event.

Each event's `sequence` is the record's ordering key (`seq`, the S3 sequencer
the worker orders writes by) followed by the outcome's stage in a file's
lifecycle, since one write can record two outcomes (an object arrived and was
processed) and a scan result or a delete changes no `seq`. Within one object
version the stages only go forward (uploaded, processed or failed, infected or
released, deleted), and a newer version has a larger `seq`; a record with no
`seq` yet (a scan result before the object's event) sorts first, as "." sorts
below every hex digit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract import events
from contract.scan import SCAN_CLEAN, SCAN_INFECTED
from contract.table import FILE_SORT_KEY_PREFIX, SORT_KEY, STATUS_DELETED, STATUS_FAILED, STATUS_PROCESSED

RECORDED = (STATUS_PROCESSED, STATUS_FAILED)
_STAGE = {
    events.FILE_UPLOADED: 1,
    events.FILE_PROCESSED: 2,
    events.FILE_FAILED: 2,
    events.FILE_INFECTED: 3,
    events.FILE_RELEASED: 3,
    events.FILE_DELETED: 4,
}


@dataclass(frozen=True)
class Outcome:
    detail_type: str
    detail: dict[str, Any]
    # When the record says it happened: the event's `time`.
    occurred_at: str


def is_file_record(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Users' bookkeeping (usage, tickets, rate windows) shares the table and records no outcome."""
    record = new or old or {}
    return str(record.get(SORT_KEY, "")).startswith(FILE_SORT_KEY_PREFIX)


def _scan(record: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (record or {}).get("scan") or {}


def _released(record: Mapping[str, Any] | None) -> bool:
    """Downloadable because the scan found this very version clean. A stack
    that does not scan releases files unscanned: no scan, no File Released."""
    scan = _scan(record)
    return (record is not None and record.get("status") == STATUS_PROCESSED and scan.get("status") == SCAN_CLEAN
            and scan.get("versionId") == record.get("versionId"))


def detail_types(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """The outcomes one write recorded, in lifecycle order."""
    if new is None:
        # TTL reaping a deleted file's record, or a ticket's: the outcome was the delete, already told.
        return []
    before = old or {}
    status, was = new.get("status"), before.get("status")
    new_version = new.get("seq") != before.get("seq")
    found = []
    if status in RECORDED and new_version:
        found.append(events.FILE_UPLOADED)
    if status == STATUS_PROCESSED and (was != STATUS_PROCESSED or new_version):
        found.append(events.FILE_PROCESSED)
    if status == STATUS_FAILED and (was != STATUS_FAILED or new_version or new.get("error") != before.get("error")):
        found.append(events.FILE_FAILED)
    scan, scanned = _scan(new), _scan(before)
    if scan.get("status") == SCAN_INFECTED and status != STATUS_DELETED and (
            scanned.get("status") != SCAN_INFECTED or scanned.get("versionId") != scan.get("versionId")):
        found.append(events.FILE_INFECTED)
    if _released(new) and not (_released(old) and not new_version):
        found.append(events.FILE_RELEASED)
    if status == STATUS_DELETED and was != STATUS_DELETED:
        found.append(events.FILE_DELETED)
    return found


def event_id(file_id: str, version: str | None, detail_type: str, order: str) -> str:
    """The same for every retry of one outcome, different for any other: a
    hash of what identifies the outcome (its file, object version, type and
    sequence), never of when it was sent."""
    identity = "\n".join((file_id, version or "", detail_type, order))
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def sequence(record: Mapping[str, Any], detail_type: str) -> str:
    return f"{record.get('seq', '')}.{_STAGE[detail_type]}"


def _hex_sha256(value: Any) -> str | None:
    """The uploader's SHA-256 as hex. The API signs it into the upload as S3's
    base64 checksum; a multipart upload's composite checksum is no file hash."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def outcomes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[Outcome]:
    """The events one committed write of a file record stands for."""
    if not is_file_record(old, new):
        return []
    found = []
    for detail_type in detail_types(old, new):
        order = sequence(new, detail_type)
        version = new.get("versionId")
        detail = {
            "eventId": event_id(new["fileId"], version, detail_type, order),
            "fileId": new["fileId"],
            "owner": new["ownerId"],
            "key": new["key"],
            "version": version,
            "size": new.get("size"),
            "sha256": _hex_sha256(new.get("sha256")),
            "kind": (new.get("metadata") or {}).get("kind"),
            "status": new["status"],
            "occurredAt": new["updatedAt"],
            "sequence": order,
        }
        if detail_type == events.FILE_PROCESSED:
            detail["summary"] = new.get("metadata") or {}
        elif detail_type == events.FILE_FAILED:
            detail["error"] = new.get("error")
        elif detail_type == events.FILE_INFECTED:
            detail["threats"] = list(_scan(new).get("threats") or [])
        found.append(Outcome(detail_type, detail, new["updatedAt"]))
    return found
