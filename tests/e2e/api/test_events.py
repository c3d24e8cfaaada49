"""Lifecycle events on the local stack: every recorded outcome is told exactly
once per event id, whatever is delivered twice, and only what was recorded.

Events are read as `ops events` reads them (the bus's log group, with the
on-call operator's credentials), after the stream mapping has caught up with
every write made so far."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from contract import events
from contract.table import PARTITION_KEY, SORT_KEY, file_sk, user_pk
from ops import events as ops_events
from ops import replay
from ops.__main__ import main as ops_main
from ops.outputs import Stack
from tests.e2e.api.conftest import assert_valid, kinds, told, upload_small, wait_for_status
from tests.local.stack_helpers import wait_for
from tests.uploading import create_ticket, put_object

SEQUENCER_WIDTH = 18  # what local/moto_server.py writes; the record's `seq` is it right-padded


@pytest.fixture(scope="module")
def ops_stack(stack) -> Stack:
    return Stack.from_file(stack.stack_file)


def record(stack, owner: str, file_id: str) -> dict:
    return stack.client("dynamodb").get_item(
        TableName=stack.names.table, ConsistentRead=True,
        Key={PARTITION_KEY: {"S": user_pk(owner)}, SORT_KEY: {"S": file_sk(file_id)}})["Item"]


def drained(stack) -> bool:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["queueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return all(value == "0" for value in attributes.values())


def test_an_upload_is_told_uploaded_then_processed_once_each(stack, ops_stack, api):
    data = b"lifecycle events\n"
    ticket = create_ticket(api, "told.txt", data, "text/plain")
    assert put_object(ticket, data).status_code == 200
    file_id = ticket["fileId"]
    assert wait_for_status(api, file_id)["status"] == "processed"
    found = told(stack, ops_stack, file_id)
    assert kinds(found) == [events.FILE_UPLOADED, events.FILE_PROCESSED]
    assert_valid(found)
    detail = {event["detail-type"]: event["detail"] for event in found}[events.FILE_PROCESSED]
    item = record(stack, api.sub, file_id)
    assert detail["owner"] == api.sub and detail["key"] == item["key"]["S"]
    assert detail["version"] == item["versionId"]["S"] and detail["size"] == len(data)
    assert detail["sha256"] == hashlib.sha256(data).hexdigest() and detail["kind"] == "text"
    assert detail["sequence"].startswith(item["seq"]["S"])
    assert all(event["source"] == events.EVENT_SOURCE for event in found)


def test_a_failed_file_is_told_failed_with_its_code(stack, ops_stack, api):
    file_id = upload_small(api, "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
    file = wait_for_status(api, file_id)
    assert file["status"] == "failed"
    found = told(stack, ops_stack, file_id)
    assert kinds(found) == [events.FILE_UPLOADED, events.FILE_FAILED]
    assert_valid(found)
    assert found[-1]["detail"]["error"]["code"] == file["error"]["code"]


def test_a_delete_is_told_once_and_last(stack, ops_stack, api):
    file_id = upload_small(api, "gone.txt", b"to be deleted\n")
    wait_for_status(api, file_id)
    assert api("DELETE", f"/files/{file_id}").status_code == 204
    assert api("DELETE", f"/files/{file_id}").status_code == 204
    # The object's removal reaches the worker too, and changes nothing more.
    wait_for(lambda: drained(stack), 30)
    found = told(stack, ops_stack, file_id)
    assert kinds(found) == [events.FILE_UPLOADED, events.FILE_PROCESSED, events.FILE_DELETED]
    assert_valid(found)


def test_a_duplicate_s3_event_tells_nothing_new(stack, ops_stack, api):
    file_id = upload_small(api, "twice.txt", b"delivered twice\n")
    wait_for_status(api, file_id)
    before = told(stack, ops_stack, file_id)
    item = record(stack, api.sub, file_id)
    # S3 delivers at least once: the same notification again, as S3 sent it.
    duplicate = {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": item["updatedAt"]["S"], "eventName": "ObjectCreated:Post",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "uploads",
               "bucket": {"name": stack.bucket, "arn": f"arn:aws:s3:::{stack.bucket}"},
               "object": {"key": item["key"]["S"], "size": int(item["size"]["N"]),
                          "versionId": item["versionId"]["S"],
                          "sequencer": item["seq"]["S"][:SEQUENCER_WIDTH]}}}]}
    for _ in range(2):
        stack.client("sqs").send_message(QueueUrl=stack.outputs["queueUrl"], MessageBody=json.dumps(duplicate))
    wait_for(lambda: drained(stack), 30)
    after = told(stack, ops_stack, file_id)
    assert sorted(e["detail"]["eventId"] for e in after) == sorted(e["detail"]["eventId"] for e in before)


def test_a_replay_tells_the_new_version_once_and_the_old_one_never_again(stack, ops_stack, api):
    file_id = upload_small(api, "replayed.txt", b"replayed once\n")
    wait_for_status(api, file_id)
    first = record(stack, api.sub, file_id)["versionId"]["S"]
    assert replay.replay_file(ops_stack, api.sub, file_id) == "replayed"
    wait_for(lambda: record(stack, api.sub, file_id)["versionId"]["S"] != first
             and record(stack, api.sub, file_id)["status"]["S"] == "processed", 30)
    found = told(stack, ops_stack, file_id)
    assert_valid(found)
    ids = Counter(event["detail"]["eventId"] for event in found)
    assert max(ids.values()) == 1
    by_version = Counter((e["detail"]["version"], e["detail-type"]) for e in found)
    second = record(stack, api.sub, file_id)["versionId"]["S"]
    assert by_version == {(first, events.FILE_UPLOADED): 1, (first, events.FILE_PROCESSED): 1,
                          (second, events.FILE_UPLOADED): 1, (second, events.FILE_PROCESSED): 1}
    # The replayed version's events are the newer ones.
    ordered = sorted(found, key=lambda e: e["detail"]["sequence"])
    assert [e["detail"]["version"] for e in ordered] == [first, first, second, second]


def test_ops_events_lists_a_files_events_oldest_first(stack, ops_stack, api, capsys):
    file_id = upload_small(api, "listed.txt", b"listed by ops\n")
    wait_for_status(api, file_id)
    assert stack.stream_mapping.settle(30)
    assert ops_main(["events", file_id, "--json", "--stack-file", str(stack.stack_file)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["detail-type"] for e in listed] == [events.FILE_UPLOADED, events.FILE_PROCESSED]
    assert listed == ops_events.events(ops_stack, file_id)
    assert ops_main(["events", "no-such-file", "--stack-file", str(stack.stack_file)]) == 0
    assert "No events" in capsys.readouterr().out


def test_a_record_the_producer_cannot_read_is_dead_lettered_and_the_stream_moves_on(stack, ops_stack, api,
                                                                                  request):
    dlq = stack.client("sqs").get_queue_url(QueueName=stack.names.events_dead_letter_queue)["QueueUrl"]
    # A file record with no owner or file id: nothing the worker writes, but a stream must survive it.
    poison = {PARTITION_KEY: {"S": user_pk("poison")}, SORT_KEY: {"S": file_sk("poison")},
              "status": {"S": "processed"}, "seq": {"S": "1"}}
    stack.client("dynamodb").put_item(TableName=stack.names.table, Item=poison)
    request.addfinalizer(lambda: stack.client("dynamodb").delete_item(
        TableName=stack.names.table, Key={k: poison[k] for k in (PARTITION_KEY, SORT_KEY)}))
    file_id = upload_small(api, "after-poison.txt", b"told despite the poison\n")
    wait_for_status(api, file_id)
    assert kinds(told(stack, ops_stack, file_id)) == [events.FILE_UPLOADED, events.FILE_PROCESSED]
    messages = wait_for(lambda: stack.client("sqs").receive_message(QueueUrl=dlq, WaitTimeSeconds=1)
                        .get("Messages"), 30)
    given_up = json.loads(messages[0]["Body"])
    assert given_up["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert given_up["requestContext"]["approximateInvokeCount"] == stack.streams.maximum_retry_attempts + 1
    assert given_up["DDBStreamBatchInfo"]["batchSize"] == 1
    assert given_up["DDBStreamBatchInfo"]["streamArn"].startswith(
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{stack.names.table}/stream/")
