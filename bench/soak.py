"""`make soak`: many uploads through a faulty local stack, then a reconciliation
of S3, the table and both queues.

AWS misbehaves on purpose (local.faults): about one call in ten throttled, a 500
or a read timeout; 5% of invocations kill their environment right after one of
their first record writes; 10% of processed messages delivered again; every batch shuffled. Through
it go uploads as the dashboard makes them (a ticket from the API, then the
presigned POST), some overwritten in place, some hostile files, and poison
messages that no worker can read. What must hold afterwards: no file lost, none
recorded twice, every record describing its object's current version, and the
DLQ holding the poison and nothing else.

An integration is one of the stack's webhook endpoints: a receiver of the
soak's own (local/webhook_inbox.py) that verifies every delivery's Standard
Webhooks signature, so its events come the whole way (table stream, producer,
bus, rule, delivery queue, delivery function). What it verified is held against
what the table recorded: every outcome the table's stream carries, and every
file's final one, received at least once, each under one event id with one
content, nothing received that was not recorded, and no signature refused.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from contract.http import IDEMPOTENCY_KEY_HEADER
from contract.ingest import IngestSettings
from contract.keys import INCOMING_PREFIX
from contract.quotas import Quotas
from contract.table import SORT_KEY, STATUS_DELETED, STATUS_FAILED, STATUS_PROCESSED, file_sk
from local import cognito
from local.faults import Faults
from local.stack import LocalStack
from local.webhook_inbox import WebhookInbox
from tests.extractors import files
from workers.events.outcomes import outcomes
from workers.storage.dynamo import deserialize

FAULTS = Faults(s3_throttle=0.04, dynamodb_throttle=0.04, server_error=0.03, read_timeout=0.03, crash=0.05,
                duplicate_delivery=0.10, shuffle=1.0, seed=20261123)
# Short clocks so failed batches come back quickly: a 37 s visibility timeout,
# so poison reaches the DLQ after its fifth receive, about three minutes after
# it is sent. Six seconds and small batches, because here every environment,
# moto and the uploads share two cores: on a shorter clock, batches time out for
# want of CPU, come back together and time out together again, which measures
# the machine rather than the system.
INGEST = IngestSettings(worker_timeout_s=6, batch_size=4, batching_window_s=1, receive_wait_s=1,
                        reserved_concurrency=2, maximum_concurrency=2)
UPLOAD_THREADS = 8
# One user sends every upload, far faster than a person would: the per-user
# ticket rate is raised so the soak measures the pipeline, not the limiter.
QUOTAS = Quotas(tickets_per_minute=100_000)
# Of every 20 uploads: one overwritten in place, and from every 50 three hostile ones.
OVERWRITE_EVERY = 20
HOSTILE_EVERY = 50
POISON_PER_UPLOADS = 50
TERMINAL = (STATUS_PROCESSED, STATUS_FAILED)
RESULT = Path(__file__).parent / "soak.json"


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes
    # The code a hostile file must fail with; None for a file that must be processed.
    expected_code: str | None = None
    overwrite: bytes | None = None


def _hostile() -> list[Upload]:
    png = files.image("PNG", size=(256, 256))
    return [
        Upload("bomb.zip", "application/zip", files.overlapping_zip_bomb(), "archive_bomb"),
        Upload("cut.png", "image/png", png[: len(png) // 2], "corrupt"),
        Upload("photo.png", "image/png", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
               "type_mismatch"),
    ]


def plan(count: int) -> list[Upload]:
    hostile = _hostile()
    plain = [
        lambda i: Upload(f"notes-{i}.txt", "text/plain", f"note {i}\n".encode() * (1 + i % 40)),
        lambda i: Upload(f"table-{i}.csv", "text/csv", f"id,value\n{i},{i * i}\n".encode()),
        lambda i: Upload(f"doc-{i}.json", "application/json", json.dumps({"n": i}).encode()),
        lambda i: Upload(f"pic-{i}.png", "image/png", files.image("PNG", size=(8 + i % 32, 8))),
    ]
    uploads = []
    for i in range(count):
        slot = i % HOSTILE_EVERY
        if slot < len(hostile):
            uploads.append(hostile[slot])
            continue
        upload = plain[i % len(plain)](i)
        if i % OVERWRITE_EVERY == OVERWRITE_EVERY - 1:
            upload = Upload(upload.filename, "text/plain", upload.data, overwrite=f"rewritten {i}\n".encode() * 3)
        uploads.append(upload)
    return uploads


class Client:
    """The dashboard's side: tickets from the API, bytes straight to S3."""

    def __init__(self, stack: LocalStack) -> None:
        tokens = cognito.sign_in(stack.client("cognito-idp"), stack.outputs["userPoolClientId"],
                                 stack.outputs["demoUser"])
        self.api_url = stack.outputs["apiUrl"]
        self.headers = {"Authorization": f"Bearer {tokens['AccessToken']}"}
        self.s3 = stack.client("s3")
        self.bucket = stack.bucket
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers.update(self.headers)
        return self._local.session

    def send(self, upload: Upload) -> str:
        # One key for every attempt, as the dashboard retries: a retried ticket
        # request must not create a second file.
        key = str(uuid.uuid4())
        body = _retrying(lambda: self._session().post(
            f"{self.api_url}/uploads", timeout=60, headers={IDEMPOTENCY_KEY_HEADER: key},
            json={"filename": upload.filename, "contentType": upload.content_type, "size": len(upload.data),
                  "sha256": base64.b64encode(hashlib.sha256(upload.data).digest()).decode()})).json()
        # A PUT signed with the bytes' SHA-256, as the dashboard sends every small file.
        signed = body["upload"]
        _retrying(lambda: requests.put(signed["url"], data=upload.data, headers=signed["headers"], timeout=60))
        if upload.overwrite is not None:
            self.s3.put_object(Bucket=self.bucket, Key=body["key"], Body=upload.overwrite, ContentType="text/plain")
        return body["fileId"]


def _retrying(request, attempts: int = 3) -> requests.Response:
    """A request retried on a 5xx, a 429 (after its Retry-After) or a broken
    connection, as the dashboard does; any other 4xx is final."""
    for attempt in range(1, attempts):
        try:
            response = request()
            if response.status_code == 429:
                time.sleep(int(response.headers.get("Retry-After", attempt)))
                continue
            if response.status_code < 500:
                break
        except requests.ConnectionError:
            pass
        time.sleep(attempt)
    else:
        response = request()
    response.raise_for_status()
    return response


def _poison(count: int) -> list[str]:
    return [f'{{"poison": {i}, this is not JSON' for i in range(count)]


def _scan(dynamodb, table: str) -> list[dict]:
    """The file records; the API's idempotency records share the table."""
    items, start = [], None
    while True:
        page = dynamodb.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return [item for item in items if item[SORT_KEY]["S"].startswith(file_sk(""))]


def _plain(item: dict) -> dict:
    """The string and number attributes of a typed DynamoDB item."""
    out = {}
    for name, typed in item.items():
        if "S" in typed:
            out[name] = typed["S"]
        elif "N" in typed:
            out[name] = int(typed["N"])
        elif "M" in typed and name == "error":
            out[name] = typed["M"]["code"]["S"]
    return out


def _queue_depth(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(int(attrs[name]) for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                             "ApproximateNumberOfMessagesDelayed"))


def _drain(stack: LocalStack, tickets: set[str], deadline_s: float) -> float:
    """Seconds until the queue is empty (in flight too) and every ticket is terminal."""
    sqs, dynamodb = stack.client("sqs"), stack.client("dynamodb")
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if _queue_depth(sqs, stack.outputs["queueUrl"]) == 0:
            done = {r["fileId"] for r in map(_plain, _scan(dynamodb, stack.names.table)) if r.get("status") in TERMINAL}
            if tickets <= done:
                break
        time.sleep(1)
    return time.monotonic() - started


def _dead_letters(sqs, url: str) -> list[str]:
    bodies, empty = [], 0
    while empty < 3:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300,
                                       WaitTimeSeconds=1).get("Messages", [])
        empty = 0 if messages else empty + 1
        bodies += [m["Body"] for m in messages]
    return bodies


def _injected(log: Path) -> dict[str, int]:
    kinds = re.findall(r"local\.faults: injected (\w+)", log.read_text(errors="replace")) if log.exists() else []
    return dict(Counter(kinds))


INTEGRATION = "soak-integration"


def attach_receiver(stack: LocalStack) -> WebhookInbox:
    """An integration's webhook endpoint on the stack, for every detail type,
    that verifies each delivery's signature and keeps every one it gets. Its
    secret exists once the stack has started (`armed`)."""
    receiver = WebhookInbox(stack.host, 0, keep=None)
    receiver.start()
    stack.webhooks = (*stack.webhooks, stack.webhook(INTEGRATION, receiver.url))
    return receiver


def armed(stack: LocalStack, receiver: WebhookInbox) -> None:
    receiver.secret = stack.webhook_secrets[INTEGRATION]


def _delivered(stack: LocalStack, deadline_s: float) -> None:
    """Until every event is put and every delivery acknowledged or dead-lettered."""
    stack.stream_mapping.settle(deadline_s)
    sqs, started = stack.client("sqs"), time.monotonic()
    while _queue_depth(sqs, stack.outputs["webhookQueueUrl"]) and time.monotonic() - started < deadline_s:
        time.sleep(1)


def _recorded(stack: LocalStack) -> list[dict]:
    """Every outcome the table recorded, from its stream (the committed writes, in order)."""
    streams = stack.client("dynamodbstreams")
    arn = stack.client("dynamodb").describe_table(TableName=stack.names.table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    found, after = [], None
    while True:
        where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after \
            else {"ShardIteratorType": "TRIM_HORIZON"}
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **where)["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        if not records:
            return found
        for record in records:
            old, new = record["dynamodb"].get("OldImage"), record["dynamodb"].get("NewImage")
            found += [{"type": o.detail_type, **o.detail}
                      for o in outcomes(old and deserialize(old), new and deserialize(new))]
        after = records[-1]["dynamodb"]["SequenceNumber"]


def reconcile_events(stack: LocalStack, receiver: WebhookInbox) -> dict:
    """What the integration's webhook endpoint received (verified deliveries),
    against what the table recorded. `missing`: a recorded outcome (or a file's
    final one) never received; `duplicated_ids`: one outcome received under two
    ids, which consumers could not de-duplicate; `conflicting_ids`: one id
    delivered with two different details; `unexpected`: an event for nothing
    recorded. Same-id redeliveries are at-least-once working, and only counted."""
    delivered = [entry["event"] for entry in reversed(receiver.snapshot()["received"])]
    by_id: dict[str, dict] = {}
    conflicting = set()
    for event in delivered:
        first = by_id.setdefault(event["detail"]["eventId"], event)
        if (first["detail-type"], first["detail"]) != (event["detail-type"], event["detail"]):
            conflicting.add(event["detail"]["eventId"])
    recorded = {outcome["eventId"]: outcome for outcome in _recorded(stack)}
    final = [_plain(item) for item in _scan(stack.client("dynamodb"), stack.names.table)]
    told = {(e["detail"]["fileId"], e["detail"]["version"], e["detail"]["status"]) for e in by_id.values()
            if e["detail-type"] in ("File Processed", "File Failed", "File Deleted")}
    ids_per_outcome = Counter((e["detail"]["fileId"], e["detail"]["version"], e["detail-type"], e["detail"]["sequence"])
                              for e in by_id.values())
    missing_ids = set(recorded) - set(by_id)
    types = sorted({o["type"] for o in recorded.values()} | {e["detail-type"] for e in by_id.values()})
    return {
        "counted_from": f"webhook endpoint {INTEGRATION!r}: deliveries whose Standard Webhooks signature verified",
        "received": dict(Counter(e["detail-type"] for e in by_id.values())),
        "recorded": dict(Counter(o["type"] for o in recorded.values())),
        "by_type": {kind: {
            "recorded": sum(o["type"] == kind for o in recorded.values()),
            "received": sum(e["detail-type"] == kind for e in by_id.values()),
            "missing": sum(recorded[i]["type"] == kind for i in missing_ids),
            "duplicate_deliveries": sum(e["detail-type"] == kind for e in delivered)
            - sum(e["detail-type"] == kind for e in by_id.values()),
            "conflicting_ids": sum(by_id[i]["detail-type"] == kind for i in conflicting),
        } for kind in types},
        "deliveries": len(delivered),
        "redelivered": len(delivered) - len(by_id),
        "invalid_signatures": len(receiver.snapshot()["rejected"]),
        "missing": sorted({*missing_ids,
                           *(f"final {r['fileId']} {r.get('status')}" for r in final
                             if r.get("status") in (*TERMINAL, STATUS_DELETED)
                             and (r["fileId"], r.get("versionId"), r["status"]) not in told)}),
        "duplicated_ids": sorted(" ".join(str(part) for part in outcome)
                                 for outcome, n in ids_per_outcome.items() if n > 1),
        "conflicting_ids": sorted(conflicting),
        "unexpected": sorted(set(by_id) - set(recorded)),
    }


def webhook_deliveries(stack: LocalStack) -> dict:
    """The delivery path's own state after the run: what is still queued or was given up on."""
    sqs = stack.client("sqs")
    return {"queue_left": _queue_depth(sqs, stack.outputs["webhookQueueUrl"]),
            "dead_lettered": _queue_depth(sqs, stack.outputs["webhookDeadLetterQueueUrl"]),
            "acknowledged": stack.deliveries.stats.deleted,
            "delivery_invocations": stack.deliveries.stats.invocations}


def reconcile(stack: LocalStack, sent: dict[str, Upload], poison: list[str]) -> dict:
    s3, sqs = stack.client("s3"), stack.client("sqs")
    bucket = stack.bucket
    records = [_plain(item) for item in _scan(stack.client("dynamodb"), stack.names.table)]
    live = [r for r in records if r.get("status") != STATUS_DELETED]
    by_file = {r["fileId"]: r for r in live}

    objects = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=INCOMING_PREFIX) for o in page.get("Contents", [])]
    lost = {file_id for file_id in sent if by_file.get(file_id, {}).get("status") not in TERMINAL}
    by_key = {r["key"]: r for r in live}
    lost |= {key.split("/")[2] for key in objects if by_key.get(key, {}).get("status") not in TERMINAL}

    keys = Counter(r["key"] for r in live)
    duplicated = sorted(key for key, n in keys.items() if n > 1)

    disagreeing = []
    for record in live:
        if record.get("status") not in TERMINAL:
            continue
        head = s3.head_object(Bucket=bucket, Key=record["key"])
        current = {"etag": head["ETag"].strip('"'), "versionId": head.get("VersionId"), "size": head["ContentLength"]}
        recorded = {name: record.get(name) for name in current}
        if recorded != current:
            disagreeing.append({"fileId": record["fileId"], "recorded": recorded, "current": current})

    misjudged = []
    for file_id, upload in sent.items():
        record = by_file.get(file_id, {})
        outcome = record.get("error") if record.get("status") == STATUS_FAILED else record.get("status")
        expected = upload.expected_code or STATUS_PROCESSED
        if record.get("status") in TERMINAL and outcome != expected:
            misjudged.append({"fileId": file_id, "filename": upload.filename, "expected": expected, "got": outcome})

    dead = _dead_letters(sqs, stack.outputs["deadLetterQueueUrl"])
    return {
        "uploads": len(sent),
        "overwritten": sum(u.overwrite is not None for u in sent.values()),
        "hostile": sum(u.expected_code is not None for u in sent.values()),
        "processed": sum(r.get("status") == STATUS_PROCESSED for r in live),
        "failed": dict(Counter(r["error"] for r in live if r.get("status") == STATUS_FAILED)),
        "lost": sorted(lost),
        # What the table holds for each lost file, so a loss can be told from a delay.
        "lost_records": {file_id: by_file.get(file_id) or next(
            (r for r in records if r.get("fileId") == file_id), None) for file_id in sorted(lost)},
        "duplicated": duplicated,
        "disagreeing": disagreeing,
        "misjudged": misjudged,
        "dlq": {"poison_sent": len(poison), "dlq_messages": len(dead),
                "poison_in_dlq": sum(body in poison for body in dead),
                "not_poison": [body[:200] for body in dead if body not in poison]},
        "queue_left": _queue_depth(sqs, stack.outputs["queueUrl"]),
    }


def run(uploads: int = 1000, deadline_s: float = 900, state_dir: Path | None = None,
        ingest: IngestSettings = INGEST, healthy: bool = False) -> dict:
    """`healthy`: AWS without faults and no poison messages, the same uploads
    (hostile files included: users send those on a good day too)."""
    faults = None if healthy else FAULTS
    with tempfile.TemporaryDirectory() as scratch:
        stack = LocalStack(state_dir=state_dir or Path(scratch), ingest=ingest, faults=faults, quotas=QUOTAS)
        receiver = attach_receiver(stack)
        try:
            with stack:
                armed(stack, receiver)
                return _run(stack, receiver, uploads, deadline_s, healthy)
        finally:
            receiver.stop()


def _run(stack: LocalStack, receiver: WebhookInbox, uploads: int, deadline_s: float, healthy: bool) -> dict:
    client = Client(stack)
    poison = [] if healthy else _poison(max(1, uploads // POISON_PER_UPLOADS))
    # First, so their five receives run alongside the uploads.
    for body in poison:
        stack.client("sqs").send_message(QueueUrl=stack.outputs["queueUrl"], MessageBody=body)
    started = time.monotonic()
    sent: dict[str, Upload] = {}
    errors: list[str] = []
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        futures = {pool.submit(client.send, upload): upload for upload in plan(uploads)}
        for future, upload in futures.items():
            try:
                sent[future.result()] = upload
            except Exception as exc:
                errors.append(f"{upload.filename}: {exc}")
    upload_seconds = time.monotonic() - started
    drain_seconds = _drain(stack, set(sent), deadline_s)
    # Before the reconciliation, whose look at the DLQ holds its messages in flight.
    alarms_fired = _alarms_fired(stack, started)
    report = reconcile(stack, sent, poison)
    _delivered(stack, deadline_s)
    report.update(
        events=reconcile_events(stack, receiver),
        webhooks=webhook_deliveries(stack),
        healthy=healthy,
        alarms_fired=alarms_fired,
        upload_errors=errors,
        upload_seconds=round(upload_seconds, 1),
        drain_seconds=round(drain_seconds, 1),
        faults_injected=_injected(stack.log_dir / "ingest.log"),
        mapping={"invocations": stack.mapping.stats.invocations, "failed_messages": stack.mapping.stats.failed,
                 "redelivered": stack.mapping.stats.redelivered,
                 "partial_batches": stack.mapping.stats.partial_batches},
    )
    return report


def _alarms_fired(stack: LocalStack, started: float) -> list[dict]:
    """Every ALARM notification the on-call inbox received, in order, with the
    seconds since the first upload: what this run would have paged."""
    stack.cloudwatch.settle()
    elapsed = time.monotonic() - started
    fired = []
    for notification in stack.cloudwatch.inbox.notifications():
        message = notification["Message"]
        if message["NewStateValue"] == "ALARM":
            at = datetime.strptime(message["StateChangeTime"], "%Y-%m-%dT%H:%M:%S.%f%z")
            fired.append({"alarm": message["AlarmName"].removeprefix(f"{stack.names.prefix}-"),
                          "reason": message["NewStateReason"],
                          "seconds_before_end": round((datetime.now(UTC) - at).total_seconds(), 1)})
    return [dict(entry, seconds_after_start=round(elapsed - entry.pop("seconds_before_end"), 1)) for entry in fired]


def table(report: dict) -> str:
    dlq = report["dlq"]
    rows = [
        ("uploads", report["uploads"]),
        ("  overwritten in place", report["overwritten"]),
        ("  hostile", report["hostile"]),
        ("processed", report["processed"]),
        ("failed", ", ".join(f"{code} {n}" for code, n in sorted(report["failed"].items())) or 0),
        ("lost", len(report["lost"])),
        ("duplicated", len(report["duplicated"])),
        ("disagreeing", len(report["disagreeing"])),
        ("misjudged", len(report["misjudged"])),
        ("dlq: poison sent / in dlq / total", f"{dlq['poison_sent']} / {dlq['poison_in_dlq']} / {dlq['dlq_messages']}"),
        ("dlq: not poison", len(dlq["not_poison"])),
        ("upload errors", len(report["upload_errors"])),
        ("upload_seconds", report["upload_seconds"]),
        ("drain_seconds", report["drain_seconds"]),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(report["faults_injected"].items()))),
        ("redelivered messages", report["mapping"]["redelivered"]),
        ("events received / recorded", f"{sum(report['events']['received'].values())} / "
                                       f"{sum(report['events']['recorded'].values())}"),
        ("events missing / duplicated ids / unexpected", f"{len(report['events']['missing'])} / "
                                                         f"{len(report['events']['duplicated_ids'])} / "
                                                         f"{len(report['events']['unexpected'])}"),
        ("webhook deliveries / same-id repeats", f"{report['events']['deliveries']} / "
                                                 f"{report['events']['redelivered']}"),
        ("webhook ids with two contents / invalid signatures", f"{len(report['events']['conflicting_ids'])} / "
                                                               f"{report['events']['invalid_signatures']}"),
        ("webhooks queued / dead-lettered", f"{report['webhooks']['queue_left']} / "
                                            f"{report['webhooks']['dead_lettered']}"),
        ("alarms fired", ", ".join(f"{a['alarm']} at {a['seconds_after_start']} s" for a in report["alarms_fired"])
         or "none"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--deadline", type=float, default=900, help="seconds to wait for the queue to drain")
    parser.add_argument("--healthy", action="store_true", help="no faults and no poison: nothing should page")
    args = parser.parse_args()
    report = run(args.uploads, args.deadline, healthy=args.healthy)
    print(table(report))
    # One file for both: the faulty run's report at the top (what bench/cost.py
    # reads), the last healthy run's under "healthy_run".
    previous = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    if args.healthy:
        written = {**previous, "healthy_run": report}
    else:
        written = {**report, **({"healthy_run": previous["healthy_run"]} if "healthy_run" in previous else {})}
    RESULT.write_text(json.dumps(written, indent=2) + "\n")
    print(f"written to {RESULT}")


if __name__ == "__main__":
    main()
