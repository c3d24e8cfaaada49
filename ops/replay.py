"""Run files through the pipeline again.

A replay marks the record as replay-requested, then copies the object onto
itself (same bytes, same content type, one added metadata field). S3 then
emits a fresh ObjectCreated:Copy with a newer sequencer, so the real path
(notification, queue, worker, ordered write) does the work, and the worker's
ordering rules accept it as the newest state. Without the mark the worker
would take the copy for a second upload with a spent ticket and remove it.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from contract.table import STATUS_DELETED, STATUS_PENDING
from ops.outputs import Stack
from workers.errors import error_code
from workers.storage import ingest_records, objects, records
from workers.storage.dynamo import iso, now

# What a copy in place must carry over: REPLACE keeps only what is named.
_KEPT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


def replay_file(stack: Stack, owner_id: str, file_id: str) -> str:
    """Replay one file; says what happened, and never raises for one file's
    S3 error, so a batch replay reports each file instead of stopping."""
    item = records.get(stack.table(), owner_id, file_id)
    if item is None or item.get("status") == STATUS_DELETED:
        return "no such file"
    s3, bucket, key = stack.client("s3"), stack.outputs.bucket_name, item["key"]
    try:
        head = objects.head(s3, bucket, key)
        if head is None:
            if item.get("status") == STATUS_PENDING:
                return "no object yet: the upload was never finished"
            return "object gone: nothing to replay"
        # The file's ticket is spent: without this the worker would remove the copy as a second upload.
        if not ingest_records.request_replay(stack.table(), owner_id, file_id):
            return "no such file"
        source = {"Bucket": bucket, "Key": key, **({"VersionId": head["VersionId"]} if head.get("VersionId") else {})}
        # The managed copy switches to a multipart copy above 5 GB, where CopyObject stops.
        s3.copy(source, bucket, key, ExtraArgs={
            "MetadataDirective": "REPLACE",
            "Metadata": {**head.get("Metadata", {}), "replayed-at": iso(now())},
            **{name: head[name] for name in _KEPT_HEADERS if head.get(name)},
        })
    except ClientError as exc:
        return f"error: {error_code(exc)}"
    return "replayed"
