"""Infected files: kept for investigation, then removed after the retention.

An infected file's bytes stay under its key, never readable (the bucket policy
releases only NO_THREATS_FOUND, the API only `clean`), until its owner deletes
it or `purge-infected` removes it after `INFECTED_RETENTION`. Removing is
deleting every version of the object: S3's ObjectRemoved events then take the
file through the worker's own delete (record deleted, thumbnail gone, quota
given back), exactly as a user's delete does.

Infected files are rare and in no index, so finding them is a filtered Scan:
run it daily, not in a loop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from boto3.dynamodb.conditions import Attr

from contract.scan import INFECTED_RETENTION_DAYS, SCAN_INFECTED
from contract.table import STATUS_DELETED
from ops.outputs import Stack
from workers.storage import objects
from workers.storage.dynamo import from_dynamo, iso

INFECTED_RETENTION = timedelta(days=INFECTED_RETENTION_DAYS)


def infected(stack: Stack, older_than: timedelta = timedelta(0)) -> list[dict]:
    """Files whose scan found malware more than `older_than` ago, not yet deleted."""
    condition = (Attr("scan.status").eq(SCAN_INFECTED) & Attr("status").ne(STATUS_DELETED)
                 & Attr("scan.scannedAt").lte(iso(datetime.now(UTC) - older_than)))
    table, query = stack.table(), {"FilterExpression": condition}
    items: list[dict] = []
    while True:
        page = table.scan(**query)
        items.extend(from_dynamo(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def purge(stack: Stack, older_than: timedelta = INFECTED_RETENTION, dry_run: bool = False) -> list[dict]:
    """Remove every version of each infected file kept longer than `older_than`."""
    found = infected(stack, older_than)
    if not dry_run:
        s3 = stack.client("s3")
        for item in found:
            objects.delete_all_versions(s3, stack.outputs.bucket_name, item["key"])
    return [{"fileId": item["fileId"], "ownerId": item["ownerId"], "key": item["key"],
             "threats": item["scan"].get("threats", []), "scannedAt": item["scan"].get("scannedAt"),
             "removed": not dry_run} for item in found]
