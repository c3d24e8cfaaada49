"""Batch efficiency: one batch of ten files against one file alone, and against
a sequential Powertools BatchProcessor making the same calls.

Every AWS call waits 20 ms and is answered by a stub in the calling process
(a botocore `before-send` hook, in the extraction workers too, which are
forked after it is set), so what is
measured is the worker's own cost and how well it overlaps the waiting. Against
the local stack's moto server the emulator's own CPU time per call is of the
same order as the latency, and it would be measured instead."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import time
import uuid
from collections.abc import Iterator

from botocore.awsrequest import AWSResponse

from bench import harness
from contract import functions
from contract.names import Names
from contract.quotas import QUOTAS
from contract.scan import ENV_MALWARE_SCAN, SCAN_OFF_VALUE
from local.runtime import ACCOUNT_ID, FunctionSpec, LambdaContext
from tests.workers.s3_events import notification, s3_event, sqs_record

LATENCY_S = 0.02
# A function size whose memory holds a child for each file of a full batch.
LARGE_FUNCTION_MB = 3008
RUNS = 3
BODY = b"a few words\n" * 8
NAMES = Names("bench")
BUCKET = NAMES.upload_bucket(ACCOUNT_ID)


class _Body(io.BytesIO):
    """A raw response body, read whole or streamed."""

    def stream(self, **_):
        yield self.getvalue()


def _answer(request, event_name: str, **_) -> AWSResponse:
    """What S3 and DynamoDB answer the worker for a small text file, after `LATENCY_S`."""
    time.sleep(LATENCY_S)
    operation = event_name.rsplit(".", 1)[1]
    headers = {"ETag": '"5d41402abc4b2a76b9719d911017c592"', "x-amz-version-id": "v1", "Content-Type": "text/plain"}
    if operation == "HeadObject":
        return AWSResponse(request.url, 200, {**headers, "Content-Length": str(len(BODY))}, _Body(b""))
    if operation == "GetObject":
        first, last = map(int, re.match(r"bytes=(\d+)-(\d+)", request.headers["Range"].decode()).groups())
        part = BODY[first:last + 1]
        return AWSResponse(request.url, 206, {**headers, "Content-Length": str(len(part)),
                                              "Content-Range": f"bytes {first}-{first + len(part) - 1}/{len(BODY)}"},
                           _Body(part))
    if operation == "TransactWriteItems":
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body(b"{}"))
    if operation == "UpdateItem":
        asked = json.loads(request.body)
        attributes = {"attempts": {"N": "1"}} if asked.get("ReturnValues") == "ALL_NEW" else {}
        body = json.dumps({"Attributes": attributes}).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body(body))
    raise RuntimeError(f"the stub does not answer {operation}")


@contextlib.contextmanager
def _worker_environment(spec: FunctionSpec) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(spec.lambda_environment(), AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true", LOG_LEVEL="WARNING")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with harness.on_every_call("before-send", _answer):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _memory(function_mb: int) -> Iterator[None]:
    """The worker as if its function had `function_mb` of memory."""
    from workers.extraction import isolated

    saved_slots, saved_size = isolated._SLOTS, os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    isolated._SLOTS = isolated.Slots(isolated.capacity_mb(function_mb))
    os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(function_mb)
    try:
        yield
    finally:
        isolated._SLOTS = saved_slots
        os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = saved_size


def run(sizes: harness.Sizes) -> dict:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    contract_spec = functions.ingest_worker()
    spec = FunctionSpec(name=contract_spec.function_name(NAMES), handler=contract_spec.handler,
                        timeout_s=contract_spec.timeout_s, memory_mb=contract_spec.memory_mb, region="us-east-1",
                        environment=contract_spec.environment({functions.ENV_TABLE_NAME: NAMES.table,
                                                               functions.ENV_BUCKET_NAME: BUCKET,
                                                               functions.ENV_STACK: NAMES.stack,
                                                               ENV_MALWARE_SCAN: SCAN_OFF_VALUE,
                                                               **QUOTAS.variables()}))
    with _worker_environment(spec):
        from workers.extraction import isolated
        from workers.ingest import handler as ingest

        def batch_of(count: int) -> dict:
            bodies = []
            for _ in range(count):
                event = s3_event(f"incoming/bench/{uuid.uuid4().hex}/notes.txt", sequencer=f"{time.time_ns():X}")
                event["s3"]["bucket"]["name"] = BUCKET
                bodies.append(notification(event))
            return {"Records": [sqs_record(body) for body in bodies]}

        def context() -> LambdaContext:
            return LambdaContext(spec, spec.lambda_environment(), uuid.uuid4().hex, time.time() + spec.timeout_s)

        sequential = BatchProcessor(event_type=EventType.SQS)

        def baseline(event: dict) -> dict:
            handle = functools.partial(ingest.record_handler, reserve_s=ingest.RECORD_RESERVE_S)
            return process_partial_response(event=event, record_handler=handle, processor=sequential,
                                            context=context())

        def timed(handle, count: int) -> float:
            seconds = []
            for _ in range(RUNS):
                event = batch_of(count)
                started = time.perf_counter()
                response = handle(event)
                seconds.append(time.perf_counter() - started)
                if response["batchItemFailures"]:
                    raise RuntimeError(f"the bench batch failed: {response}")
            return harness.median(seconds)

        def ours(event: dict) -> dict:
            return ingest.handler(event, context())

        ours(batch_of(sizes.batch))  # warm: threads, their table resources, the pool's workers
        batch, single, sequential_batch = timed(ours, sizes.batch), timed(ours, 1), timed(baseline, sizes.batch)
        # What more memory buys: as many extractions at once as a batch has files.
        with _memory(LARGE_FUNCTION_MB):
            large_batch, large_single = timed(ours, sizes.batch), timed(ours, 1)
    details = {"batch_seconds": round(batch, 3), "single_seconds": round(single, 3),
               "sequential_batch_seconds": round(sequential_batch, 3), "batch_size": sizes.batch,
               "latency_per_call_ms": LATENCY_S * 1000, "extraction_slots": isolated.slots(spec.memory_mb, "text"),
               f"batch_over_single_at_{LARGE_FUNCTION_MB}_mb": round(large_batch / large_single, 2),
               f"sequential_over_batch_at_{LARGE_FUNCTION_MB}_mb": round(sequential_batch / large_batch, 2),
               f"extraction_slots_at_{LARGE_FUNCTION_MB}_mb": isolated.slots(LARGE_FUNCTION_MB, "text")}
    over_single = round(batch / single, 2)
    over_ours = round(sequential_batch / batch, 2)
    return {
        "batch10_over_single": harness.figure(over_single, "<= 1.5", over_single <= 1.5, baseline=round(single, 3),
                                              **details),
        "baseline_over_ours": harness.figure(over_ours, ">= 5", over_ours >= 5, baseline=round(sequential_batch, 3),
                                             **details),
    }
