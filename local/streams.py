"""The DynamoDB stream event source mapping, emulated from AWS's documented
behaviour ("Using AWS Lambda with Amazon DynamoDB",
https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html, and the pages on
batch item failures and error handling it links):

- One poller per shard, reading in order with the function's execution role
  (DescribeStream, GetShardIterator, GetRecords), "at a base rate of 4 times
  per second" while the shard has nothing new; from TRIM_HORIZON.
- A batch is up to `batch_size` records, gathered for at most the batching
  window, presented as Lambda presents them (eventSourceARN added,
  ApproximateCreationDateTime in epoch seconds).
- One batch of a shard at a time: nothing after a batch is processed before
  it succeeds or is given up on, which is what keeps an item's records in order.
- The response, with ReportBatchItemFailures on: an empty or null response,
  or an empty `batchItemFailures`, is success. Otherwise the lowest sequence
  number named is the checkpoint: the records before it are done, and the
  batch is retried from it. A function error, a timeout, a response that is
  not JSON, or an identifier that is empty, null or not in the batch fails
  the whole batch.
- A failed batch is retried up to `maximum_retry_attempts`; with
  BisectBatchOnFunctionError a batch that failed whole is split in two and
  each half retried, which does not count against the retries. A batch whose
  first record is older than `maximum_record_age_s` is not retried.
- A batch given up on is sent to the on-failure destination (an SQS queue,
  with the function's role) as an invocation record that points at its stream
  records ("Retaining discarded records for a DynamoDB event source",
  https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html),
  and the shard moves on.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contract.events import StreamSettings
from local.esm import failed_message_ids
from local.runtime import ExecutionEnvironment, Invocation

log = logging.getLogger("local.streams")

# "Lambda polls shards in your DynamoDB stream for records at a base rate of 4 times per second."
POLL_INTERVAL_S = 0.25


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda presents it in `event["Records"]`."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**{k: v for k, v in record.items() if k != "dynamodb"}, "dynamodb": change,
            "eventSourceARN": stream_arn}


def checkpoint(invocation: Invocation, sequence_numbers: list[str]) -> int | None:
    """Where the batch is retried from (an index into it), or None when it all
    succeeded: the lowest record counted failed, by the same partial-batch
    rules as the SQS mapping's, with sequence numbers for message ids."""
    failed = failed_message_ids(invocation, sequence_numbers)
    return min(sequence_numbers.index(number) for number in failed) if failed else None


@dataclass
class StreamStats:
    invocations: int = 0
    records: int = 0
    retries: int = 0
    bisections: int = 0
    dead_lettered: int = 0


class StreamMapping:
    def __init__(self, streams, sqs, stream_arn: str, function_arn: str, destination_url: str,
                 settings: StreamSettings, environment: ExecutionEnvironment) -> None:
        # `streams` and `sqs` act with the function's role, as Lambda's poller does.
        self.streams = streams
        self.sqs = sqs
        self.stream_arn = stream_arn
        self.function_arn = function_arn
        self.destination_url = destination_url
        self.settings = settings
        self.environment = environment
        self.stats = StreamStats()
        self._shard_id: str | None = None
        # The last sequence number handled (done or given up on).
        self._position: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Set while the shard has nothing the function has not handled.
        self._caught_up = threading.Event()

    def start(self) -> StreamMapping:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        if len(shards) != 1:
            raise ValueError(f"the local stream has {len(shards)} shards; the emulator reads one")
        self._shard_id = shards[0]["ShardId"]
        self._thread = threading.Thread(target=self._poll, name="stream-mapping", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.environment.spec.timeout_s + 5)
        self.environment.stop()

    def settle(self, timeout_s: float = 30) -> bool:
        """Wait until every record written so far has been handled (a test's
        and the soak's way to know the events are out); False on timeout."""
        self._caught_up.clear()
        return self._caught_up.wait(timeout_s)

    def _read(self, limit: int) -> list[dict[str, Any]]:
        # A fresh iterator each read: AWS's expire after 15 minutes, and moto's
        # follow the table object, which a cancelled transaction replaces.
        where = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._position}
                 if self._position else {"ShardIteratorType": "TRIM_HORIZON"})
        iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=self._shard_id,
                                                   **where)["ShardIterator"]
        return self.streams.get_records(ShardIterator=iterator, Limit=limit)["Records"]

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._gather()
                if not batch:
                    self._caught_up.set()
                    self._stop.wait(POLL_INTERVAL_S)
                    continue
                self._handle(batch)
                self._position = batch[-1]["dynamodb"]["SequenceNumber"]
            except Exception:
                # The poller must outlive any one failure, as the managed one does.
                log.exception("stream mapping poll failed")
                self._stop.wait(1)

    def _gather(self) -> list[dict[str, Any]]:
        batch = self._read(self.settings.batch_size)
        if batch and self.settings.batching_window_s and len(batch) < self.settings.batch_size:
            self._stop.wait(self.settings.batching_window_s)
            batch = self._read(self.settings.batch_size)
        return batch

    def _handle(self, batch: list[dict[str, Any]]) -> None:
        pending = deque([(batch, 0)])
        while pending and not self._stop.is_set():
            records, retries = pending.popleft()
            numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
            invocation = self.environment.invoke({"Records": [lambda_record(r, self.stream_arn) for r in records]})
            self.stats.invocations += 1
            at = checkpoint(invocation, numbers)
            if at is None:
                self.stats.records += len(records)
                continue
            if invocation.failed:
                log.warning("stream batch failed: %s", invocation.error)
            self.stats.records += at
            rest = records[at:]
            if self._too_old(rest[0]):
                self._dead_letter(rest, invocation, retries + 1, "RecordAgeExceeded")
            elif invocation.failed and self.settings.bisect_on_error and len(rest) > 1:
                self.stats.bisections += 1
                half = len(rest) // 2
                pending.extendleft([(rest[half:], retries), (rest[:half], retries)])
            elif retries >= self.settings.maximum_retry_attempts:
                self._dead_letter(rest, invocation, retries + 1, "RetryAttemptsExhausted")
            else:
                self.stats.retries += 1
                pending.appendleft((rest, retries + 1))

    def _too_old(self, record: dict[str, Any]) -> bool:
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if not isinstance(created, datetime):
            return False
        return (datetime.now(UTC) - created).total_seconds() > self.settings.maximum_record_age_s

    def _dead_letter(self, records: list[dict[str, Any]], invocation: Invocation, invokes: int,
                     condition: str) -> None:
        def arrival(record):
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            return created.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(created, datetime) else None

        message = {
            "requestContext": {"requestId": invocation.request_id or str(uuid.uuid4()),
                               "functionArn": self.function_arn, "condition": condition,
                               "approximateInvokeCount": invokes},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                **({"functionError": "Unhandled"} if invocation.failed else {})},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": self._shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival(records[0]),
                "approximateArrivalOfLastRecord": arrival(records[-1]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.destination_url, MessageBody=json.dumps(message))
        self.stats.dead_lettered += len(records)
        log.warning("stream batch given up (%s): %d records from %s", condition, len(records),
                    records[0]["dynamodb"]["SequenceNumber"])
