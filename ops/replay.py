"""Run files through the pipeline again.

A replay copies the object onto itself (same bytes, same content type, one
added metadata field). S3 then emits a fresh ObjectCreated:Copy with a newer
sequencer, so the real path (notification, queue, worker, ordered write) does
the work, and the worker's ordering rules accept it as the newest state.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ops.outputs import Stack
from workers import records, settings
from workers.records import iso, now


def replay_file(stack: Stack, owner_id: str, file_id: str) -> str:
    item = records.get(stack.table(), owner_id, file_id)
    if item is None or item.get("status") == settings.STATUS_DELETED:
        return "no such file"
    s3, bucket, key = stack.client("s3"), stack["bucketName"], item["key"]
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
            return "object gone: nothing to replay"
        raise
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key, **({"VersionId": head["VersionId"]} if head.get("VersionId") else {})},
        MetadataDirective="REPLACE",
        ContentType=head.get("ContentType", "application/octet-stream"),
        Metadata={**head.get("Metadata", {}), "replayed-at": iso(now())},
    )
    return "replayed"
