"""List cost is flat: items DynamoDB reads for one `GET /files` page, with a
small and a large number of records in the table, against a baseline that
Scans the table for the caller's files and sorts them."""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime, timedelta

import boto3

from bench import harness
from contract.keys import FileKey

PAGE = 50


@contextlib.contextmanager
def _account():
    from moto import mock_aws

    from contract.functions import ENV_TABLE_NAME
    from contract.names import Names
    from local import provision
    from workers.storage import clients

    names = Names("bench")
    saved = dict(os.environ)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      **{ENV_TABLE_NAME: names.table})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            clients.reset()
            provision.create_table(boto3.client("dynamodb"), names)
            yield clients.table()
    finally:
        clients.reset()
        os.environ.clear()
        os.environ.update(saved)


def _read(table, records: int, page_size: int) -> tuple[int, int]:
    """Items read for the newest page: by the API's own listing, and by a Scan."""
    from workers.api import files
    from workers.storage import api_records
    from workers.storage.dynamo import to_dynamo

    owner, start = str(uuid.uuid4()), datetime(2026, 1, 1, tzinfo=UTC)
    with table.batch_writer() as batch:
        for index in range(records):
            key = FileKey(owner, uuid.uuid4().hex, f"file-{index}.txt")
            # The record as the API makes it, written in batches.
            batch.put_item(Item=to_dynamo(api_records.pending_record(
                key, filename=key.name, content_type="text/plain", size=1, upload={},
                at=start + timedelta(seconds=index), scanning=True)))
    scanned = []
    table.meta.client.meta.events.register("after-call.dynamodb.Query",
                                           lambda parsed, **_: scanned.append(parsed["ScannedCount"]))
    page = files.list_files(owner, page_size, None, lambda: b"bench-secret")
    assert len(page["items"]) == page_size
    listed = sum(scanned)
    scanned_by_scan, start_key = 0, None
    while True:
        response = table.scan(FilterExpression="ownerId = :owner", ExpressionAttributeValues={":owner": owner},
                              **({"ExclusiveStartKey": start_key} if start_key else {}))
        scanned_by_scan += response["ScannedCount"]
        start_key = response.get("LastEvaluatedKey")
        if not start_key:
            return listed, scanned_by_scan


def run(sizes: harness.Sizes) -> dict:
    results = {}
    for records in sizes.list_records:
        page_size = min(PAGE, records // 4)
        with _account() as table:
            listed, scanned = _read(table, records, page_size)
        results[f"list_items_read_at_{records}"] = harness.figure(
            listed, f"= page size + 1 ({page_size + 1})", listed == page_size + 1, baseline=scanned,
            records=records, page_size=page_size)
    return results
