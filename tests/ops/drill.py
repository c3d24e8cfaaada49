"""What the drills set up on a local stack: notifications, records in the
states the worker or an incident leaves, and the CLI run as on-call runs it.

The stack file carries the on-call operator's credentials, so the CLI (and
any ops function given `Stack.from_file`) acts with the operator's policy;
what a drill sets up, it sets up as the deployer (`as_deployer`), whose calls
are no part of what on-call may do."""

import dataclasses
import json
from datetime import datetime, timedelta
from urllib.parse import quote_plus

from contract.keys import FileKey
from contract.quotas import QUOTAS
from contract.table import (
    ATTENTION_INDEX_PARTITION_KEY,
    ATTENTION_INDEX_SORT_KEY,
    STATUS_FAILED,
    STATUS_PROCESSED,
    attention_pk,
    attention_sk,
)
from local.stack import LocalStack
from ops.__main__ import main
from ops.outputs import Stack
from workers.storage import records, usage
from workers.storage.dynamo import iso, now, to_dynamo


def as_deployer(running: LocalStack) -> Stack:
    """The stack file's stack, with the deployer's credentials instead of the operator's."""
    stack = Stack.from_file(running.stack_file)
    return dataclasses.replace(stack, local=dataclasses.replace(stack.local,
                                                                emulator_credentials=running.credentials()))


def created_event(stack: Stack, key: str) -> str:
    """An S3 ObjectCreated notification as S3 sends it."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": stack.outputs.region,
        "eventTime": iso(now()), "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "drill",
               "bucket": {"name": stack.outputs.bucket_name, "arn": f"arn:aws:s3:::{stack.outputs.bucket_name}"},
               "object": {"key": quote_plus(key), "size": 1}},
    }]})


def pending(stack: Stack, key: str, at: datetime | None = None) -> FileKey:
    """The record an upload ticket leaves before its object arrives, declaring
    room for any drill's object (a bigger one is refused as too large)."""
    file_key, at = FileKey.parse(key), at or now()
    usage.reserve_ticket(stack.table(), file_key, QUOTAS, reclaim_after=at + timedelta(hours=1),
                         filename=file_key.name, content_type="text/plain", size=1024, upload={}, at=at,
                         scanning=False)
    return file_key


def failed(stack: Stack, owner: str, file_id: str, code: str, ago: timedelta = timedelta(0)) -> None:
    """A failed record as the worker writes it, `ago` in the past."""
    stamp = iso(now() - ago)
    _record(stack, owner, file_id, stamp, status=STATUS_FAILED, error={"code": code, "message": "drill"},
            **{ATTENTION_INDEX_PARTITION_KEY: attention_pk(STATUS_FAILED),
               ATTENTION_INDEX_SORT_KEY: attention_sk(stamp, file_id)})


def stored_before_quotas(stack: Stack, owner: str, file_id: str, size: int) -> None:
    """A processed record as the worker wrote it before quotas existed: charged to no one."""
    _record(stack, owner, file_id, iso(now()), status=STATUS_PROCESSED, size=size, error=None)


def _record(stack: Stack, owner: str, file_id: str, stamp: str, **fields) -> None:
    stack.table().put_item(Item=to_dynamo({
        **records.key_of(owner, file_id), "ownerId": owner, "fileId": file_id,
        "key": f"incoming/{owner}/{file_id}/f.txt", "createdAt": stamp, "updatedAt": stamp, **fields,
    }))


def ops(capsys, stack_file, *argv: str) -> tuple[int, object]:
    """Run the CLI with --json; its exit code and what it printed."""
    capsys.readouterr()
    code = main(["--stack-file", str(stack_file), *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None
