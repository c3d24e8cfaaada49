"""End to end on the local stack: objects put under incoming/, carried by S3
notifications, the queue, the emulated event source mapping and the worker in
its execution environments, until each record is written. Upload-to-record
latency at batch size 10, and throughput at batch size 10 against 1 (local
figures, for their trend only); and upload to processed for one file at a time
on an idle stack, as a person waits for it: until the dashboard's next poll
after the record is written."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from pathlib import Path

from bench import harness
from contract.ingest import IngestSettings
from local.stack import LOCAL_INGEST

BODY = b"a few words\n" * 8
IDLE_GAP_S = 0.5
IDLE_GOAL_MS = 1500
DASHBOARD = Path(__file__).resolve().parent.parent / "web" / "files.js"


def _poll_schedule() -> tuple[int, int]:
    """The dashboard's first poll of a pending file and its longest gap (web/files.js)."""
    source = DASHBOARD.read_text()
    first, longest = (int(re.search(rf"const {name} = (\d+);", source)[1]) for name in ("POLL_FIRST_MS", "POLL_MAX_MS"))
    return first, longest


def _seen_ms(written_ms: float, first_ms: int, longest_ms: int) -> int:
    """When the dashboard shows a file written `written_ms` after its upload:
    at its first poll after that, the polls starting `first_ms` after the
    upload and doubling their gap up to `longest_ms`."""
    at, gap = 0, first_ms
    while at < written_ms:
        at += gap
        gap = min(gap * 2, longest_ms)
    return at


def _drain(batch_size: int, count: int) -> tuple[float, list[float], dict]:
    ingest = IngestSettings(worker_timeout_s=10, batch_size=batch_size, batching_window_s=0, receive_wait_s=1,
                            reserved_concurrency=2, maximum_concurrency=2)
    with harness.stack(ingest, worker_here=False) as stack:
        s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
        owner = uuid.uuid4().hex
        # Warm both environments, so their init is not counted.
        for index in range(2):
            s3.put_object(Bucket=stack.bucket, Key=f"incoming/{owner}/warm{index}/x.txt", Body=BODY)
        _written(dynamodb, stack, owner, 2)
        log = stack.log_dir / "ingest.log"
        logged, invocations = log.stat().st_size, stack.mapping.stats.invocations
        put_at: dict[str, float] = {}
        started = time.time()
        for index in range(count):
            file_id = f"f{index}"
            s3.put_object(Bucket=stack.bucket, Key=f"incoming/{owner}/{file_id}/note.txt", Body=BODY)
            put_at[file_id] = time.time()
        written = _written(dynamodb, stack, owner, count + 2)
        latencies = [written[file_id] - at for file_id, at in put_at.items()]
        # What the worker wrote to its log (CloudWatch Logs ingests it), at the deployed level.
        usage = {"log_bytes_per_file": round((log.stat().st_size - logged) / count),
                 "invocations_per_file": round((stack.mapping.stats.invocations - invocations) / count, 3)}
        return max(written[file_id] for file_id in put_at) - started, latencies, usage


def _idle(count: int) -> list[float]:
    """Upload to processed for one file at a time on an idle stack with the
    local stack's own settings (the deployed batching window)."""
    with harness.stack(worker_here=False) as stack:
        s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
        owner = uuid.uuid4().hex
        for index in range(2):
            s3.put_object(Bucket=stack.bucket, Key=f"incoming/{owner}/warm{index}/x.txt", Body=BODY)
        _written(dynamodb, stack, owner, 2)
        latencies = []
        for index in range(count):
            file_id = f"idle{index}"
            s3.put_object(Bucket=stack.bucket, Key=f"incoming/{owner}/{file_id}/note.txt", Body=BODY)
            put_at = time.time()
            latencies.append(_written(dynamodb, stack, owner, index + 3)[file_id] - put_at)
            # Idle again: nothing in flight when the next file comes.
            time.sleep(IDLE_GAP_S)
        return latencies


def _written(dynamodb, stack, owner: str, count: int) -> dict[str, float]:
    """When each of the owner's records was written, once `count` are."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        items = dynamodb.query(TableName=stack.names.table, KeyConditionExpression="pk = :pk",
                               ExpressionAttributeValues={":pk": {"S": f"USER#{owner}"}},
                               ConsistentRead=True)["Items"]
        done = {item["fileId"]["S"]: datetime.fromisoformat(item["updatedAt"]["S"].replace("Z", "+00:00")).timestamp()
                for item in items if item.get("status", {}).get("S") == "processed"}
        if len(done) >= count:
            return done
        time.sleep(0.2)
    raise RuntimeError(f"the records were not written within 300 s ({len(done)} of {count})")


def run(sizes: harness.Sizes) -> dict:
    batched, latencies, usage = _drain(10, sizes.end_to_end_files)
    single, _, _ = _drain(1, sizes.end_to_end_files)
    ms = [seconds * 1000 for seconds in latencies]
    files = sizes.end_to_end_files
    idle = [seconds * 1000 for seconds in _idle(sizes.idle_files)]
    first, longest = _poll_schedule()
    seen = [_seen_ms(written, first, longest) for written in idle]
    seen_p50 = harness.percentile(seen, 0.5)
    return {
        "idle_upload_to_processed_p50_ms": harness.figure(
            seen_p50, f"<= {IDLE_GOAL_MS} ms (local), as the dashboard shows it", seen_p50 <= IDLE_GOAL_MS,
            seen_p95_ms=harness.percentile(seen, 0.95), record_written_p50_ms=round(harness.percentile(idle, 0.5)),
            record_written_p95_ms=round(harness.percentile(idle, 0.95)), dashboard_first_poll_ms=first,
            files=sizes.idle_files, batching_window_s=LOCAL_INGEST.batching_window_s),
        "end_to_end_latency_p50_ms": harness.figure(round(harness.percentile(ms, 0.5)), "trend (local)", None,
                                                    p95_ms=round(harness.percentile(ms, 0.95)), files=files,
                                                    **usage),
        "end_to_end_throughput_batch10_over_1": harness.figure(
            round(single / batched, 2), "trend (local)", None, baseline=round(files / single, 1),
            files_per_second_batch_10=round(files / batched, 1), files_per_second_batch_1=round(files / single, 1),
            files=files),
    }
