"""`ops rescan`: ask GuardDuty to scan files again (SendObjectMalwareScan, in
its API reference), for a result that never came or one that failed. The new
result reaches the record like any other: it is newer than what the record
holds for that version, so it replaces it."""

from __future__ import annotations

from datetime import timedelta

from ops import attention
from ops.outputs import Stack
from workers.storage import records


def rescan(stack: Stack, owner: str | None, file_ids: list[str], stuck_after: timedelta | None) -> list[dict]:
    """Each file (by owner and id, or every scan-stuck one) sent for a scan of
    the version its record names; what became of each."""
    table = stack.table()
    items = (attention.scan_stuck(stack, stuck_after, None) if stuck_after is not None
             else [records.get(table, owner, file_id) or {"fileId": file_id} for file_id in file_ids])
    guardduty, results = stack.client("guardduty"), []
    for item in items:
        if "key" not in item:
            results.append({"fileId": item["fileId"], "result": "no such file"})
            continue
        s3_object = {"Bucket": stack.outputs.bucket_name, "Key": item["key"],
                     **({"VersionId": item["versionId"]} if item.get("versionId") else {})}
        guardduty.send_object_malware_scan(S3Object=s3_object)
        results.append({"fileId": item["fileId"], "ownerId": item.get("ownerId"), "result": "sent"})
    return results
