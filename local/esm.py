"""The SQS event source mapping, emulated from AWS's documented behaviour.

- Long-polls the queue; gathers up to `batch_size` messages, waiting at most the
  batching window after the first one arrives.
- Runs up to `maximum_concurrency` batches at once, each in its own execution
  environment.
- With ReportBatchItemFailures on: deletes the messages the response does not
  name. A function error, a timeout, an invalid response, or an itemIdentifier
  that is empty, null or not in the batch fails the whole batch. An empty or
  null response, or an empty `batchItemFailures`, is complete success.
- Failed messages are left alone: they come back when their visibility timeout
  ends, and the queue's redrive policy moves them to the DLQ.
- Polls with the function's execution role, as AWS's poller does, and reads
  the queue's attributes when it starts: Lambda refuses a mapping whose queue's
  visibility timeout is shorter than the function's timeout
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from contract.ingest import IngestSettings
from contract.webhooks import DeliverySettings
from local.faults import Deliveries, Faults
from local.runtime import ExecutionEnvironment, Invocation

log = logging.getLogger("local.esm")

# SQS caps one ReceiveMessage at 10 messages and a long poll at 20 seconds.
_RECEIVE_MAX = 10
_WAIT_MAX = 20


def lambda_record(message: dict, queue_arn: str, region: str) -> dict:
    """An SQS message as Lambda presents it in `event["Records"]`."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_message_ids(invocation: Invocation, batch_ids: list[str]) -> set[str]:
    """Which messages of the batch count as failed, by AWS's partial-batch rules."""
    everything = set(batch_ids)
    if invocation.failed:
        return everything
    response = invocation.response
    try:
        json.dumps(response)
    except (TypeError, ValueError):
        return everything
    if response is None or response == {}:
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return set()
    if not isinstance(failures, list):
        return everything
    named = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        named.add(identifier)
    return named


@dataclass
class MappingStats:
    invocations: int = 0
    deleted: int = 0
    failed: int = 0
    # Batches where some messages succeeded and others were reported failed.
    partial_batches: int = 0
    # Successful messages sent again, as at-least-once delivery may (local.faults).
    redelivered: int = 0


class EventSourceMapping:
    def __init__(self, sqs, queue_url: str, queue_arn: str, region: str, settings: IngestSettings | DeliverySettings,
                 environments: list[ExecutionEnvironment], faults: Faults | None = None, redeliver=None,
                 on_throttled: Callable[[], None] | None = None) -> None:
        if len(environments) != settings.maximum_concurrency:
            raise ValueError("one execution environment per concurrent batch")
        self.sqs = sqs
        # Where faults' duplicate deliveries are sent from (SQS's doing, not the role's).
        self.redeliver = redeliver or sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.settings = settings
        self.environments = environments
        self.deliveries = Deliveries(faults)
        self.stats = MappingStats()
        # The function's reserved concurrency (PutFunctionConcurrency): a batch
        # beyond it is throttled, and Lambda's Throttles metric counts it.
        self.reserved_concurrency: int | None = settings.reserved_concurrency
        self.on_throttled = on_throttled
        self._running = 0
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        # The mapping's `Enabled` flag: while cleared, nothing is received.
        self._enabled = threading.Event()
        self._enabled.set()
        # Pollers between their first receive and handing the batch on.
        self._gathering = 0
        self._gathered = threading.Condition()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        visibility = int(self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])
                         ["Attributes"]["VisibilityTimeout"])
        if visibility < self.settings.worker_timeout_s:
            raise ValueError(f"the queue's visibility timeout ({visibility} s) is shorter than the function's "
                             f"timeout ({self.settings.worker_timeout_s} s): Lambda refuses such a mapping")
        for index, environment in enumerate(self.environments):
            thread = threading.Thread(target=self._poll, args=(environment,), name=f"esm-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def disable(self) -> None:
        """As `UpdateEventSourceMapping Enabled=false`: batches in flight finish,
        no new ones start, and messages wait in the queue. Returns once no
        poller is still receiving, so nothing sent afterwards is taken."""
        self._enabled.clear()
        with self._gathered:
            self._gathered.wait_for(lambda: self._gathering == 0)

    def enable(self) -> None:
        """As `UpdateEventSourceMapping Enabled=true`: polling resumes."""
        self._enabled.set()

    def stop(self) -> None:
        self._stop.set()
        self._enabled.set()
        for thread in self._threads:
            thread.join(self.settings.receive_wait_s + 5)
        for environment in self.environments:
            environment.stop()

    def _poll(self, environment: ExecutionEnvironment) -> None:
        while not self._stop.is_set():
            if not self._enabled.wait(0.2):
                continue
            try:
                batch = self.gather()
                if batch:
                    self.deliver(environment, batch)
            except Exception:
                # The poller must outlive any one failure, as the managed one does.
                log.exception("event source mapping poll failed")
                self._stop.wait(1)

    def gather(self) -> list[dict]:
        """One batch as the poller assembles it: up to the batch size, within the
        batching window, and no further receive once the mapping is disabled."""
        with self._gathered:
            self._gathering += 1
        try:
            return self._gather()
        finally:
            with self._gathered:
                self._gathering -= 1
                self._gathered.notify_all()

    def _gather(self) -> list[dict]:
        batch: list[dict] = []
        window_ends = None
        while len(batch) < self.settings.batch_size and not self._stop.is_set():
            # Checked after `gather` counted this poller in, so `disable` waits for it.
            if not self._enabled.is_set():
                break
            if window_ends is None:
                wait = self.settings.receive_wait_s
            else:
                wait = window_ends - time.monotonic()
                if wait <= 0:
                    break
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_RECEIVE_MAX, self.settings.batch_size - len(batch)),
                WaitTimeSeconds=min(_WAIT_MAX, int(wait)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages and int(wait) == 0:
                # A short poll near the window's end: don't spin.
                time.sleep(min(wait, 0.1))
            if messages and window_ends is None:
                window_ends = time.monotonic() + self.settings.batching_window_s
            batch.extend(messages)
            if batch and self.settings.batching_window_s == 0:
                break
        return batch

    def set_reserved_concurrency(self, reserved: int | None) -> None:
        """As `PutFunctionConcurrency`: takes effect for the next batches."""
        self.reserved_concurrency = reserved

    def deliver(self, environment: ExecutionEnvironment, batch: list[dict]) -> None:
        """Invoke `environment` with `batch`; delete what succeeded, leave the rest to SQS.
        A batch over the function's reserved concurrency is throttled: nothing
        is invoked and its messages come back after their visibility timeout."""
        with self._stats_lock:
            # Unreserved, the account's concurrency (not emulated) is the only limit.
            throttled = self.reserved_concurrency is not None and self._running >= self.reserved_concurrency
            self._running += not throttled
        if throttled:
            log.warning("invocation throttled: %d running, reserved concurrency %d", self._running,
                        self.reserved_concurrency)
            if self.on_throttled is not None:
                self.on_throttled()
            return
        try:
            self._deliver(environment, batch)
        finally:
            with self._stats_lock:
                self._running -= 1

    def _deliver(self, environment: ExecutionEnvironment, batch: list[dict]) -> None:
        batch = self.deliveries.order(batch)
        event = {"Records": [lambda_record(m, self.queue_arn, self.region) for m in batch]}
        invocation = environment.invoke(event)
        ids = [m["MessageId"] for m in batch]
        failed = failed_message_ids(invocation, ids)
        if invocation.failed:
            log.warning("invocation %s failed: %s", invocation.request_id, invocation.error)
        done = [m for m in batch if m["MessageId"] not in failed]
        for start in range(0, len(done), _RECEIVE_MAX):
            chunk = done[start : start + _RECEIVE_MAX]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        repeats = self.deliveries.repeats(done)
        for message in repeats:
            self.redeliver.send_message(QueueUrl=self.queue_url, MessageBody=message["Body"])
        with self._stats_lock:
            self.stats.invocations += 1
            self.stats.deleted += len(done)
            self.stats.failed += len(failed)
            self.stats.partial_batches += bool(done) and bool(failed)
            self.stats.redelivered += len(repeats)
