"""Files that need on-call's attention, from the sparse `byAttention` index:
a Query per status, newest first, never a Scan. Filters on owner and error
code narrow a Query's pages; they never widen it into a Scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from boto3.dynamodb.conditions import Attr, Key

from contract.table import (
    ATTENTION_INDEX,
    ATTENTION_INDEX_PARTITION_KEY,
    ATTENTION_INDEX_SORT_KEY,
    QUARANTINE_CODE,
    SCAN_INDEX,
    SCAN_INDEX_PARTITION_KEY,
    SCAN_INDEX_SORT_KEY,
    SCAN_PENDING_PK,
    STATUS_FAILED,
    STATUS_PENDING,
    attention_pk,
)
from ops.outputs import Stack
from workers.storage import objects
from workers.storage.dynamo import from_dynamo, iso


def files(stack: Stack, status: str, limit: int | None = 20, *, older_than: timedelta | None = None,
          since: timedelta | None = None, code: str | None = None, owner: str | None = None) -> list[dict]:
    """Up to `limit` (None: all) records in `status`, newest first, last
    changed within `since` and more than `older_than` ago."""
    sort_key = Key(ATTENTION_INDEX_SORT_KEY)
    condition = Key(ATTENTION_INDEX_PARTITION_KEY).eq(attention_pk(status))
    now = datetime.now(UTC)
    if older_than is not None and since is not None:
        condition &= sort_key.between(iso(now - since), iso(now - older_than))
    elif older_than is not None:
        condition &= sort_key.lt(iso(now - older_than))
    elif since is not None:
        condition &= sort_key.gte(iso(now - since))
    query: dict = {"IndexName": ATTENTION_INDEX, "KeyConditionExpression": condition,
                   "ScanIndexForward": False}
    narrowing = [Attr(name).eq(value) for name, value in (("error.code", code), ("ownerId", owner)) if value]
    if narrowing:
        query["FilterExpression"] = narrowing[0] if len(narrowing) == 1 else narrowing[0] & narrowing[1]
    return _query(stack, query, limit)


def _query(stack: Stack, query: dict, limit: int | None) -> list[dict]:
    """Up to `limit` (None: all) items of a Query, page by page."""
    table = stack.table()
    items: list[dict] = []
    while limit is None or len(items) < limit:
        page = table.query(**query, **({"Limit": limit - len(items)} if limit else {}))
        items.extend(from_dynamo(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items


def failed(stack: Stack, limit: int | None = 20, **narrowing) -> list[dict]:
    return files(stack, STATUS_FAILED, limit, **narrowing)


def stuck(stack: Stack, older_than: timedelta, limit: int | None = 20) -> list[dict]:
    """Pending for longer than `older_than`, each with `uploaded`: whether its
    object is in the bucket. One with its object missed its event, or waits in
    a backlog; one without is an upload ticket nobody used, which the table's
    TTL reaps in its time."""
    items = files(stack, STATUS_PENDING, limit, older_than=older_than)
    s3 = stack.client("s3")
    return [{**item, "uploaded": _uploaded(s3, stack.outputs.bucket_name, item["key"])} for item in items]


def _uploaded(s3, bucket: str, key: str) -> bool:
    # By listing, not HeadObject: with malware scanning on, the bucket policy
    # refuses to read an object its scan has not released, to on-call too.
    return objects.exists(s3, bucket, key)


def scan_pending(stack: Stack, older_than: timedelta, limit: int | None = 20) -> list[dict]:
    """Files waiting for their malware scan since more than `older_than` ago,
    oldest first, from the sparse scan index (a Query, never a Scan)."""
    condition = (Key(SCAN_INDEX_PARTITION_KEY).eq(SCAN_PENDING_PK)
                 & Key(SCAN_INDEX_SORT_KEY).lt(iso(datetime.now(UTC) - older_than)))
    return _query(stack, {"IndexName": SCAN_INDEX, "KeyConditionExpression": condition}, limit)


def scan_stuck(stack: Stack, older_than: timedelta, limit: int | None = 20) -> list[dict]:
    """Uploaded files waiting for their scan since more than `older_than` ago.
    A ticket never used waits too; it is the TTL's, not on-call's."""
    return [item for item in scan_pending(stack, older_than, limit) if item["status"] != STATUS_PENDING]


def quarantined(stack: Stack, limit: int | None = 20) -> list[dict]:
    return files(stack, STATUS_FAILED, limit, code=QUARANTINE_CODE)
