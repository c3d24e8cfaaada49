"""AWS requests per file over the whole path, for many uploads: the ticket
(the API handler), the upload (the browser's PUT, signed with its SHA-256), the worker (fed
batches of ten as the event source mapping would, which receives and deletes
them) and one page of the list. Calls are counted by a botocore hook."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections import Counter

import boto3
import requests

from bench import harness

BODY = b"a few words\n" * 8
PAGE = 50
# Notifications can lag the uploads; the mapping polls on, and so does this.
EMPTY_RECEIVES = 5


def run(sizes: harness.Sizes) -> dict:
    from local.esm import lambda_record
    from local.gateway import api_event
    from local.runtime import LambdaContext

    written = Counter()

    def count_items(params: dict, **_) -> None:
        # A transaction bills two write units per item; its params hold the items.
        written["items"] += len(params["TransactItems"])

    with harness.stack() as stack, harness.counting() as calls, \
            harness.on_every_call("provide-client-params.dynamodb.TransactWriteItems", count_items):
        from workers.api import handler as api
        from workers.ingest import handler as ingest

        owner = str(uuid.uuid4())
        api_spec, worker_spec = stack.api_spec(), stack.worker_spec()

        def context(spec) -> LambdaContext:
            return LambdaContext(spec, spec.lambda_environment(), uuid.uuid4().hex, time.time() + spec.timeout_s)

        def call(method: str, path: str, body: dict | None = None, query: str = "") -> dict:
            raw = json.dumps(body).encode() if body is not None else b""
            event = api_event(method=method, path=path, query=query, headers=[("content-type", "application/json")],
                              body=raw, claims={"sub": owner, "token_use": "access"}, source_ip="127.0.0.1")
            response = api.handler(event, context(api_spec))
            if response["statusCode"] >= 300:
                raise RuntimeError(f"{method} {path}: {response}")
            return json.loads(response["body"])

        calls.take()
        ticket_started = time.perf_counter()
        checksum = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
        tickets = [call("POST", "/uploads", {"filename": f"note-{i}.txt", "contentType": "text/plain",
                                             "size": len(BODY), "sha256": checksum}) for i in range(sizes.uploads)]
        ticket_ms = (time.perf_counter() - ticket_started) * 1000 / sizes.uploads
        phases = {"ticket": calls.take()}
        items = {"ticket": written.pop("items", 0)}
        for ticket in tickets:
            signed = ticket["upload"]
            requests.put(signed["url"], data=BODY, headers=signed["headers"], timeout=60).raise_for_status()
        # The browser's PUTs: not boto3's, so counted here.
        phases["upload"] = calls.take() + Counter({"s3.PutObject": len(tickets)})

        sqs, queue = boto3.client("sqs"), stack.outputs["queueUrl"]
        calls.take()
        handled, empty = 0, 0
        while handled < len(tickets):
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                                           AttributeNames=["All"]).get("Messages", [])
            empty = 0 if messages else empty + 1
            if empty == EMPTY_RECEIVES:
                break
            if not messages:
                continue
            event = {"Records": [lambda_record(message, "arn:aws:sqs:us-east-1:000000000000:ingest", "us-east-1")
                                 for message in messages]}
            answer = ingest.handler(event, context(worker_spec))
            failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
            if failed:
                raise RuntimeError(f"the worker failed {len(failed)} of {len(messages)} messages")
            done = [message for message in messages if message["MessageId"] not in failed]
            sqs.delete_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(done)])
            handled += len(done)
        phases["worker"] = calls.take()
        items["worker"] = written.pop("items", 0)
        call("GET", "/files", query=f"limit={PAGE}")
        phases["list"] = calls.take()

    uploads = len(tickets)
    per_file = {phase: {name: round(count / uploads, 3) for name, count in sorted(counted.items())}
                for phase, counted in phases.items()}
    worker = phases["worker"]
    if not handled:
        raise RuntimeError("no notification reached the queue")
    # Per file the worker saw: the emulator now and then drops a notification.
    worker_calls = sum(count for name, count in worker.items() if not name.startswith("sqs.")) / handled
    sqs_calls = sum(count for name, count in worker.items() if name.startswith("sqs.")) / handled
    by_service = Counter()
    for counted in phases.values():
        for name, count in counted.items():
            by_service[name.split(".")[0]] += count
    return {"worker_calls_per_file": harness.figure(
        round(worker_calls, 2), "<= 4, SQS receive and delete amortized over the batch",
        worker_calls <= 4 and sqs_calls * min(10, handled) <= 2.5, sqs_calls_per_file=round(sqs_calls, 2),
        uploads=uploads, notifications_handled=handled, ticket_ms=round(ticket_ms, 1), object_bytes=len(BODY),
        transaction_items_per_file={phase: round(count / uploads, 3) for phase, count in items.items()},
        calls_per_file_by_phase=per_file,
        calls_per_file_by_service={service: round(count / uploads, 2)
                                   for service, count in sorted(by_service.items())})}
