"""The DynamoDB stream mapping (local/streams.py) against AWS's documented
rules: order, partial batch responses, bisection, retries, the on-failure
destination. The stream and the function are stand-ins; the stack's own
stream and producer are exercised in tests/e2e/api/test_events.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contract.events import StreamSettings
from local.runtime import Invocation
from local.streams import StreamMapping
from tests.local.stack_helpers import wait_for

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-05T00:00:00.000"
SHARD = "shardId-1"


class Stream:
    """GetRecords over a list, as DynamoDB Streams serves one shard."""

    def __init__(self, count: int, age: timedelta = timedelta(0)) -> None:
        created = datetime.now(UTC) - age
        self.records = [{"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(100 + n),
                                                             "ApproximateCreationDateTime": created}}
                        for n in range(count)]

    def describe_stream(self, StreamArn):
        return {"StreamDescription": {"Shards": [{"ShardId": SHARD}]}}

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None):
        start = 0 if ShardIteratorType == "TRIM_HORIZON" else \
            next(i for i, r in enumerate(self.records) if r["dynamodb"]["SequenceNumber"] == SequenceNumber) + 1
        return {"ShardIterator": f"{StreamArn}|1|{start}"}

    def get_records(self, ShardIterator, Limit):
        start = int(ShardIterator.rsplit("|", 1)[1])
        return {"Records": self.records[start:start + Limit]}


@dataclass
class Queue:
    sent: list[dict] = field(default_factory=list)

    def send_message(self, QueueUrl, MessageBody):
        self.sent.append(json.loads(MessageBody))


class Function:
    """Answers each invocation with `answer(sequence numbers)`; remembers what it was given."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.batches: list[list[str]] = []
        self.spec = type("Spec", (), {"timeout_s": 1})()

    def invoke(self, event):
        numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        assert all(r["eventSourceARN"] == ARN for r in event["Records"])
        self.batches.append(numbers)
        return self.answer(numbers)

    def stop(self):
        pass


SMALL = StreamSettings(batch_size=4, maximum_retry_attempts=2)


def run(stream: Stream, function: Function, settings: StreamSettings = SMALL):
    queue = Queue()
    mapping = StreamMapping(stream, queue, ARN, "arn:aws:lambda:us-east-1:123456789012:function:f", "dlq",
                            settings, function).start()
    try:
        assert mapping.settle(10)
    finally:
        mapping.stop()
    return mapping, queue


def ok(numbers):
    return Invocation("r", response={"batchItemFailures": []})


def test_every_record_is_delivered_once_in_order_in_batches():
    function = Function(ok)
    mapping, queue = run(Stream(10), function)
    assert function.batches == [["100", "101", "102", "103"], ["104", "105", "106", "107"], ["108", "109"]]
    assert queue.sent == [] and mapping.stats.records == 10


def test_a_reported_record_is_retried_with_those_after_it_and_nothing_before_it():
    failed_once = set()

    def answer(numbers):
        if "102" in numbers and "102" not in failed_once:
            failed_once.add("102")
            return Invocation("r", response={"batchItemFailures": [{"itemIdentifier": "103"},
                                                                   {"itemIdentifier": "102"}]})
        return ok(numbers)

    function = Function(answer)
    run(Stream(6), function)
    assert function.batches == [["100", "101", "102", "103"], ["102", "103"], ["104", "105"]]


def test_an_identifier_not_in_the_batch_fails_the_whole_batch():
    answers = iter([Invocation("r", response={"batchItemFailures": [{"itemIdentifier": "nope"}]})])
    function = Function(lambda numbers: next(answers, ok(numbers)))
    run(Stream(2), function)
    assert function.batches == [["100", "101"], ["100", "101"]]


def test_a_function_error_bisects_to_the_bad_record_which_alone_is_dead_lettered():
    def answer(numbers):
        return Invocation("r", error="KeyError: 'fileId'") if "102" in numbers else ok(numbers)

    function = Function(answer)
    mapping, queue = run(Stream(4), function)
    # Split in two, then in two again: the bad record's retries are its own, and the rest go through.
    assert function.batches[:3] == [["100", "101", "102", "103"], ["100", "101"], ["102", "103"]]
    assert function.batches.count(["102"]) == 3 and ["103"] in function.batches
    (given_up,) = queue.sent
    info = given_up["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == ("102", "102", 1)
    assert info["streamArn"] == ARN and info["shardId"] == SHARD
    assert given_up["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert given_up["requestContext"]["approximateInvokeCount"] == 3
    assert given_up["responseContext"]["functionError"] == "Unhandled"
    assert mapping.stats.dead_lettered == 1


def test_nothing_after_a_failing_batch_is_delivered_before_it_is_settled():
    def answer(numbers):
        return Invocation("r", error="boom") if numbers[0] == "100" else ok(numbers)

    function = Function(answer)
    run(Stream(6), function, StreamSettings(batch_size=2, maximum_retry_attempts=1, bisect_on_error=False))
    first_later = next(i for i, batch in enumerate(function.batches) if batch[0] != "100")
    assert function.batches[:first_later] == [["100", "101"]] * 2


def test_records_older_than_the_maximum_age_are_not_retried():
    function = Function(lambda numbers: Invocation("r", error="boom"))
    _, queue = run(Stream(1, age=timedelta(hours=1)), function,
                   StreamSettings(maximum_record_age_s=60, maximum_retry_attempts=5))
    assert len(function.batches) == 1
    assert queue.sent[0]["requestContext"]["condition"] == "RecordAgeExceeded"


def test_settle_waits_for_records_written_after_it_was_asked():
    stream = Stream(0)
    function = Function(ok)
    mapping = StreamMapping(stream, Queue(), ARN, "f", "dlq", StreamSettings(), function).start()
    try:
        assert mapping.settle(5)
        stream.records += Stream(3).records
        assert mapping.settle(5)
        assert wait_for(lambda: function.batches == [["100", "101", "102"]], 1)
    finally:
        mapping.stop()
