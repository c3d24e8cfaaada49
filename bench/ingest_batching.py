"""How much batching buys the ingest path: the same objects through the local
stack with batch size 10 and with batch size 1, as a throughput ratio."""

from __future__ import annotations

import tempfile
import time

from contract.ingest import IngestSettings
from local.stack import LocalStack

OBJECTS = 60


def _drain_time(batch_size: int) -> float:
    ingest = IngestSettings(worker_timeout_s=5, batch_size=batch_size, batching_window_s=0, receive_wait_s=1,
                            reserved_concurrency=2, maximum_concurrency=2)
    with tempfile.TemporaryDirectory() as state, LocalStack(state_dir=state, moto_port=0, ingest=ingest) as stack:
        s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
        # Warm both environments so init time is not counted.
        s3.put_object(Bucket=stack.bucket, Key="incoming/bench/warm/x.txt", Body=b"x")
        _wait_processed(dynamodb, stack, 1)
        started = time.perf_counter()
        for i in range(OBJECTS):
            s3.put_object(Bucket=stack.bucket, Key=f"incoming/bench/f{i}/x.txt", Body=b"x" * 100)
        _wait_processed(dynamodb, stack, OBJECTS + 1)
        return time.perf_counter() - started


def _wait_processed(dynamodb, stack, count: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = dynamodb.scan(TableName=stack.names.table, Select="COUNT")["Count"]
        if items >= count:
            return
        time.sleep(0.05)
    raise RuntimeError("objects were not processed within 120 s")


def run() -> dict:
    batched, single = _drain_time(10), _drain_time(1)
    return {
        "objects": OBJECTS,
        "seconds_batch_10": round(batched, 2),
        "seconds_batch_1": round(single, 2),
        "throughput_ratio_batch_10_vs_1": round(single / batched, 2),
    }
