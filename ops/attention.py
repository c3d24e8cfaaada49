"""Files that need on-call's attention, from the sparse `byAttention` index:
a Query per status, newest first, never a Scan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from boto3.dynamodb.conditions import Key

from contract.table import ATTENTION_INDEX, ATTENTION_INDEX_PARTITION_KEY, ATTENTION_INDEX_SORT_KEY, attention_pk
from ops.outputs import Stack
from workers.storage.records import from_dynamo, iso


def files(stack: Stack, status: str, limit: int = 20, older_than: timedelta | None = None) -> list[dict]:
    condition = Key(ATTENTION_INDEX_PARTITION_KEY).eq(attention_pk(status))
    if older_than is not None:
        cutoff = iso(datetime.now(timezone.utc) - older_than)
        condition &= Key(ATTENTION_INDEX_SORT_KEY).lt(cutoff)
    query = {"IndexName": ATTENTION_INDEX, "KeyConditionExpression": condition, "ScanIndexForward": False}
    table = stack.table()
    items: list[dict] = []
    while len(items) < limit:
        page = table.query(Limit=limit - len(items), **query)
        items.extend(from_dynamo(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items
