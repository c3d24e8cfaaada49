import json
import time

import boto3
import pytest
from moto import mock_aws

from contract.ingest import IngestSettings
from local.esm import EventSourceMapping, failed_message_ids
from local.runtime import Invocation

# On the emulated queue clocks: `make test` runs these alone, after the rest.
pytestmark = pytest.mark.clocks

IDS = ["m1", "m2", "m3"]


def ok(response):
    return Invocation("r", response=response)


@pytest.mark.parametrize(
    ("invocation", "failed"),
    [
        (ok(None), set()),
        (ok({}), set()),
        (ok({"batchItemFailures": []}), set()),
        (ok({"batchItemFailures": None}), set()),
        (ok({"batchItemFailures": [{"itemIdentifier": "m2"}]}), {"m2"}),
        (Invocation("r", error="ValueError: boom"), set(IDS)),
        (Invocation("r", error="Task timed out after 1.00 seconds"), set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}), set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": ""}]}), set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": None}]}), set(IDS)),
        (ok({"batchItemFailures": [{"itemId": "m1"}]}), set(IDS)),
        (ok({"batchItemFailures": "m1"}), set(IDS)),
        (ok("a string"), set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": b"m1"}]}), set(IDS)),
    ],
)
def test_partial_batch_response_rules(invocation, failed):
    assert failed_message_ids(invocation, IDS) == failed


class ScriptedEnvironment:
    """Stands in for an execution environment: answers with what the test scripts."""

    def __init__(self, answer):
        self.answer = answer
        self.events = []

    def invoke(self, event):
        self.events.append(event)
        return self.answer(event)

    def stop(self):
        pass


def mapping(sqs, url, settings, answer):
    env = ScriptedEnvironment(answer)
    return EventSourceMapping(sqs, url, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1", settings,
                              [env] * settings.maximum_concurrency), env


@pytest.fixture
def sqs():
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def queue(sqs, visibility=1):
    return sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": str(visibility)})["QueueUrl"]


def send(sqs, url, n):
    for i in range(n):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))


def visible(sqs, url) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def in_flight(sqs, url) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_batches_are_capped_at_the_batch_size(sqs):
    url = queue(sqs)
    send(sqs, url, 25)
    esm, _ = mapping(sqs, url, IngestSettings(batch_size=20, batching_window_s=1, receive_wait_s=0), lambda e: ok(None))
    assert len(esm.gather()) == 20


def test_the_window_closes_a_small_batch(sqs):
    # Visible again only long after the window, so each message is gathered once.
    url = queue(sqs, visibility=30)
    send(sqs, url, 3)
    esm, _ = mapping(sqs, url, IngestSettings(batch_size=10, batching_window_s=1, receive_wait_s=1), lambda e: ok(None))
    started = time.monotonic()
    assert len(esm.gather()) == 3
    assert time.monotonic() - started < 5


def test_records_have_lambdas_sqs_shape(sqs):
    url = queue(sqs)
    send(sqs, url, 1)
    esm, env = mapping(sqs, url, IngestSettings(batching_window_s=0, receive_wait_s=0), lambda e: ok(None))
    esm.deliver(env, esm.gather())
    record = env.events[0]["Records"][0]
    assert set(record) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                           "eventSource", "eventSourceARN", "awsRegion"}
    assert record["eventSource"] == "aws:sqs"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_successes_are_deleted_and_failures_come_back_after_the_visibility_timeout(sqs):
    url = queue(sqs, visibility=1)
    send(sqs, url, 3)

    def fail_second(event):
        return ok({"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]})

    esm, env = mapping(sqs, url, IngestSettings(batching_window_s=0, receive_wait_s=0), fail_second)
    esm.deliver(env, esm.gather())
    assert (visible(sqs, url), in_flight(sqs, url)) == (0, 1)
    time.sleep(1.2)
    assert visible(sqs, url) == 1
    assert esm.stats.deleted == 2 and esm.stats.failed == 1


def test_a_function_error_fails_the_whole_batch(sqs):
    url = queue(sqs, visibility=30)
    send(sqs, url, 3)
    esm, env = mapping(sqs, url, IngestSettings(batching_window_s=0, receive_wait_s=0),
                       lambda e: Invocation("r", error="RuntimeError: boom"))
    esm.deliver(env, esm.gather())
    assert in_flight(sqs, url) == 3


def test_nothing_sent_after_disable_returns_is_taken_even_mid_window(sqs):
    # A poller holding one message keeps its window open; disabling must still
    # stop it receiving, or what a test sends next is delivered behind its back.
    url = queue(sqs, visibility=120)
    esm, env = mapping(sqs, url, IngestSettings(batch_size=10, batching_window_s=5, receive_wait_s=1),
                       lambda e: ok(None))
    esm.start()
    try:
        send(sqs, url, 1)
        deadline = time.monotonic() + 10
        while in_flight(sqs, url) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        esm.disable()
        send(sqs, url, 3)
        time.sleep(2)
        assert visible(sqs, url) == 3
    finally:
        esm.stop()
