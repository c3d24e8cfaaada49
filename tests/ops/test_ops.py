"""The on-call CLI against a running local stack, through the scenarios the
runbooks describe."""

import json
from urllib.parse import quote_plus

import pytest

from local.stack import LocalStack
from ops import dlq, replay, status
from ops.__main__ import main
from ops.outputs import Stack
from tests.local.stack_helpers import FAST, file_status, wait_for
from workers.storage import records


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("ops"), moto_port=0, ingest=FAST) as stack:
        yield stack


@pytest.fixture
def stack(running):
    return Stack.from_file(running.stack_file)


def created_event(stack: Stack, key: str) -> str:
    now = records.iso(records.now())
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": stack.outputs.region, "eventTime": now,
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.outputs.bucket_name}, "object": {"key": quote_plus(key)}},
    }]})


def test_a_failed_file_shows_in_status(stack):
    key = "incoming/carol/late-1/data.txt"
    # The notification outran the object (or the object is gone): object_missing.
    stack.client("sqs").send_message(QueueUrl=stack.outputs.queue_url, MessageBody=created_event(stack, key))
    wait_for(lambda: file_status(stack, "carol", "late-1") == "failed", 15)
    report = status.status(stack)
    assert any(f["fileId"] == "late-1" and f["error"]["code"] == "object_missing" for f in report["recentFailures"])
    assert replay.replay_file(stack, "carol", "late-1") == "object gone: nothing to replay"
    assert replay.replay_file(stack, "carol", "no-such-file") == "no such file"


def test_replay_runs_failed_files_through_the_pipeline_again(stack, running):
    key = "incoming/carol/bug-1/data.txt"
    stack.client("s3").put_object(Bucket=stack.outputs.bucket_name, Key=key, Body=b"fine data")
    wait_for(lambda: file_status(stack, "carol", "bug-1") == "processed", 15)
    before = records.get(stack.table(), "carol", "bug-1")
    # What a since-fixed extractor bug would have left behind.
    stack.table().update_item(
        Key=records.key_of("carol", "bug-1"),
        UpdateExpression="SET #s = :failed, #e = :error, gsi2pk = :pk, gsi2sk = :sk",
        ExpressionAttributeNames={"#s": "status", "#e": "error"},
        ExpressionAttributeValues={":failed": "failed", ":error": {"code": "corrupt", "message": "bug"},
                                   ":pk": "STATUS#failed", ":sk": before["updatedAt"] + "#bug-1"},
    )
    assert main(["--stack-file", str(running.stack_file), "replay", "--failed"]) == 0
    wait_for(lambda: file_status(stack, "carol", "bug-1") == "processed", 15)
    after = records.get(stack.table(), "carol", "bug-1")
    assert after["versionId"] != before["versionId"] and after["error"] is None
    assert all(f["fileId"] != "bug-1" for f in status.status(stack)["recentFailures"])


def test_dead_letters_can_be_peeked_and_redriven(stack):
    key = "incoming/dave/redrive-1/report.txt"
    stack.client("s3").put_object(Bucket=stack.outputs.bucket_name, Key=key, Body=b"report")
    wait_for(lambda: file_status(stack, "dave", "redrive-1") == "processed", 15)
    stack.client("s3").put_object(Bucket=stack.outputs.bucket_name, Key="incoming/dave/redrive-2/report.txt", Body=b"r2")
    wait_for(lambda: file_status(stack, "dave", "redrive-2") == "processed", 15)
    # A message that died during an outage: valid, but it never reached the table.
    stack.client("dynamodb").delete_item(TableName=stack.outputs.table_name, Key={
        "pk": {"S": "USER#dave"}, "sk": {"S": "FILE#redrive-2"}})
    stack.client("sqs").send_message(QueueUrl=stack.outputs.dead_letter_queue_url,
                                     MessageBody=created_event(stack, "incoming/dave/redrive-2/report.txt"))
    peeked = dlq.peek(stack)
    assert [e["key"] for m in peeked for e in m.get("events", [])] == [quote_plus("incoming/dave/redrive-2/report.txt")]
    assert len(dlq.peek(stack)) == 1, "peeking leaves the messages in place"
    assert dlq.redrive(stack) == 1
    wait_for(lambda: file_status(stack, "dave", "redrive-2") == "processed", 15)
    assert dlq.peek(stack) == []

