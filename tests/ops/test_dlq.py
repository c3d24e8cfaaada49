"""Redrive against an endpoint that has SQS's message-move task, which the
local emulator lacks: the calls are stubbed as SQS answers them."""

import boto3
import pytest
from botocore.stub import Stubber

from contract.outputs import StackOutputs
from ops import dlq
from ops.outputs import Stack

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/uploads-prod-ingest"
DEAD = QUEUE + "-dlq"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:uploads-prod-ingest"
DEAD_ARN = QUEUE_ARN + "-dlq"


@pytest.fixture
def sqs(monkeypatch):
    client = boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(Stack, "client", lambda self, service, **overrides: client)
    monkeypatch.setattr(dlq, "_MOVE_TASK_POLL_S", 0)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def stack():
    outputs = StackOutputs(api_url="https://api", web_url="https://web", bucket_name="uploads-prod-files",
                           queue_url=QUEUE, dead_letter_queue_url=DEAD, table_name="uploads-prod-files",
                           user_pool_id="pool", user_pool_client_id="client", region="eu-west-1",
                           event_bus_name="uploads-prod", event_bus_arn="arn:aws:events:eu-west-1:1:event-bus/x",
                           event_log_group="/aws/events/uploads-prod")
    return Stack(outputs)


def expect_depth_and_arns(sqs, visible: int) -> None:
    sqs.add_response("get_queue_attributes", {"Attributes": {
        "ApproximateNumberOfMessages": str(visible), "ApproximateNumberOfMessagesNotVisible": "0"}})
    sqs.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DEAD_ARN}}, {
        "QueueUrl": DEAD, "AttributeNames": ["QueueArn"]})
    sqs.add_response("get_queue_attributes", {"Attributes": {"QueueArn": QUEUE_ARN}}, {
        "QueueUrl": QUEUE, "AttributeNames": ["QueueArn"]})


def test_redrive_runs_the_move_task_to_its_end_and_reports_what_it_moved(sqs, stack):
    expect_depth_and_arns(sqs, 7)
    sqs.add_response("start_message_move_task", {"TaskHandle": "task-1"},
                     {"SourceArn": DEAD_ARN, "DestinationArn": QUEUE_ARN})
    sqs.add_response("list_message_move_tasks", {"Results": [
        {"TaskHandle": "task-1", "Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 3}]})
    sqs.add_response("list_message_move_tasks", {"Results": [
        {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 7}]})
    assert dlq.redrive(stack) == dlq.Redrive(moved=7, method="move-task", waiting=7)


def test_redrive_sends_then_deletes_where_the_endpoint_has_no_move_task(sqs, stack):
    expect_depth_and_arns(sqs, 1)
    sqs.add_client_error("start_message_move_task", service_error_code="InvalidAction", http_status_code=400)
    sqs.add_response("receive_message", {"Messages": [
        {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}", "Attributes": {}}]})
    sqs.add_response("receive_message", {"Messages": []})
    sqs.add_response("send_message", {"MessageId": "m-2"}, {"QueueUrl": QUEUE, "MessageBody": "{}"})
    sqs.add_response("delete_message", {}, {"QueueUrl": DEAD, "ReceiptHandle": "r-1"})
    sqs.add_response("receive_message", {"Messages": []})
    assert dlq.redrive(stack) == dlq.Redrive(moved=1, method="send-then-delete", waiting=1)
