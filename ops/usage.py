"""What users hold against their quotas (kept by workers/storage/usage.py): one
user's usage beside what their records add up to, and the backfill that
charges files stored before quotas existed."""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr, Key

from contract.table import (
    CHARGED,
    PARTITION_KEY,
    SORT_KEY,
    STATUS_FAILED,
    STATUS_PROCESSED,
    TICKET_SORT_KEY_PREFIX,
    USAGE_BYTES,
    file_sk,
    ticket_sk,
    user_pk,
)
from ops.outputs import Stack
from workers.storage import usage
from workers.storage.dynamo import from_dynamo, now

_FILES = file_sk("")
# A file that has arrived; only these are backfilled (a pending record without
# a ticket item could never be reclaimed, so it is left to its object's arrival).
_ARRIVED = Attr("status").is_in([STATUS_PROCESSED, STATUS_FAILED])


def show(stack: Stack, owner_id: str) -> dict:
    """The usage item beside the sum of the user's charged records and of the
    tickets whose record TTL reaped: the two agree unless something wrote
    around the accounting (read while nothing else writes, they must)."""
    table = stack.table()
    held = usage.read(table, owner_id)
    charged = {"bytes": 0, "files": 0}
    uncharged, tickets, file_ids = 0, [], set()
    for item in _pages(table.query, KeyConditionExpression=Key(PARTITION_KEY).eq(user_pk(owner_id))):
        if item[SORT_KEY].startswith(_FILES):
            file_ids.add(item["fileId"])
            if item.get(CHARGED) is not None:
                charged["bytes"] += item[CHARGED]
                charged["files"] += 1
            elif item.get("status") in (STATUS_PROCESSED, STATUS_FAILED):
                uncharged += 1
        elif item[SORT_KEY].startswith(TICKET_SORT_KEY_PREFIX):
            tickets.append(item)
    orphans = [ticket for ticket in tickets if ticket["fileId"] not in file_ids]
    expected = {"bytes": charged["bytes"] + sum(t[USAGE_BYTES] for t in orphans),
                "files": charged["files"] + len(orphans)}
    due = ticket_sk(int(now().timestamp()), "~")
    return {
        "ownerId": owner_id,
        "usage": {"bytes": held.bytes, "files": held.files},
        "records": expected,
        "drift": {"bytes": held.bytes - expected["bytes"], "files": held.files - expected["files"]},
        "openTickets": len(tickets),
        "expiredTickets": sum(ticket[SORT_KEY] <= due for ticket in tickets),
        "ticketsWithoutRecord": len(orphans),
        "uncharged": uncharged,
    }


def backfill(stack: Stack, owner_id: str | None = None) -> dict:
    """Charge every file that arrived before quotas existed (processed or
    failed, never charged), each once: running it again charges nothing
    more, and a file the worker charged meanwhile is left as it is."""
    table = stack.table()
    uncharged = Attr(CHARGED).not_exists() & _ARRIVED
    if owner_id is None:
        # Once per stack, when quotas are first deployed: the only Scan in ops.
        found = _pages(table.scan, FilterExpression=Attr(SORT_KEY).begins_with(_FILES) & uncharged)
    else:
        found = _pages(table.query, FilterExpression=uncharged,
                       KeyConditionExpression=(Key(PARTITION_KEY).eq(user_pk(owner_id))
                                               & Key(SORT_KEY).begins_with(_FILES)))
    result = {"charged": 0, "bytes": 0, "owners": 0, "skipped": 0}
    owners = set()
    for item in found:
        size = item.get("size") or 0
        if usage.charge_stored(table, item["ownerId"], item["fileId"], size):
            result["charged"] += 1
            result["bytes"] += size
            owners.add(item["ownerId"])
        else:
            result["skipped"] += 1
    result["owners"] = len(owners)
    return result


def _pages(read, **params):
    while True:
        page = read(**params)
        yield from (from_dynamo(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
