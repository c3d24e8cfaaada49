"""The local stack end to end: real moto server, real queue and redrive, the
real worker in its own execution environments."""

import io
import json

import pytest
from PIL import Image

from contract.outputs import LocalOutputs
from local.stack import LocalStack
from tests.local.stack_helpers import FAST, file_status, wait_for

# On the emulated queue clocks: `make test` runs these alone, after the rest.
pytestmark = pytest.mark.clocks


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("stack"), moto_port=0, ingest=FAST) as running:
        yield running


def test_stack_file_holds_the_output_contract(stack):
    outputs = json.loads(stack.stack_file.read_text())
    assert set(outputs) == set(LocalOutputs.keys())
    assert outputs["awsEndpointUrl"].startswith("http://127.0.0.1:")


def test_an_object_put_with_boto3_becomes_a_processed_record_within_seconds(stack):
    # The bound is the check; how fast it usually is belongs to `make bench`.
    stack.client("s3").put_object(Bucket=stack.bucket, Key="incoming/alice/e2e-1/notes v1.txt",
                                  Body=b"hello", ContentType="text/plain")
    wait_for(lambda: file_status(stack, "alice", "e2e-1") == "processed", 15)


def test_a_poison_message_lands_in_the_dlq_while_good_messages_are_processed(stack):
    sqs, s3 = stack.client("sqs"), stack.client("s3")
    sqs.send_message(QueueUrl=stack.outputs["queueUrl"], MessageBody="this is not an S3 notification")
    for i in range(6):
        s3.put_object(Bucket=stack.bucket, Key=f"incoming/bob/good-{i}/file.txt", Body=b"ok")
    for i in range(6):
        wait_for(lambda i=i: file_status(stack, "bob", f"good-{i}") == "processed", 20)

    def dead_letters():
        return sqs.receive_message(QueueUrl=stack.outputs["deadLetterQueueUrl"], AttributeNames=["All"],
                                   WaitTimeSeconds=1).get("Messages")

    # No file waits for the poison: every good file is done while it is still being retried.
    attributes = sqs.get_queue_attributes(QueueUrl=stack.outputs["deadLetterQueueUrl"],
                                          AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    dead = wait_for(dead_letters, 120, interval_s=0)
    assert dead[0]["Body"] == "this is not an S3 notification"
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= FAST.max_receive_count
    assert stack.mapping.stats.failed >= FAST.max_receive_count
    # The poison shared its first batch with good messages, which succeeded beside it.
    assert stack.mapping.stats.partial_batches >= 1


def test_an_image_removed_by_hand_takes_its_thumbnail_and_a_late_object_does_not_outlive_its_file(stack):
    """The worker's removals for good, end to end with its role: the thumbnail
    of an object deleted from the bucket by hand, and every version of an
    object that arrives for a file already deleted."""
    s3, key, photo = stack.client("s3"), "incoming/alice/by-hand-1/photo.png", io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(photo, "PNG")
    s3.put_object(Bucket=stack.bucket, Key=key, Body=photo.getvalue(), ContentType="image/png")
    wait_for(lambda: file_status(stack, "alice", "by-hand-1") == "processed", 15)
    thumbnail = stack.client("dynamodb").get_item(
        TableName=stack.outputs["tableName"], ConsistentRead=True,
        Key={"pk": {"S": "USER#alice"}, "sk": {"S": "FILE#by-hand-1"}})["Item"]["thumbnailKey"]["S"]

    def versions(prefix: str) -> list[dict]:
        listed = s3.list_object_versions(Bucket=stack.bucket, Prefix=prefix)
        return listed.get("Versions", []) + listed.get("DeleteMarkers", [])

    assert versions(thumbnail)
    # Every version removed (a delete marker alone sends moto no event).
    for version in versions(key):
        s3.delete_object(Bucket=stack.bucket, Key=key, VersionId=version["VersionId"])
    wait_for(lambda: file_status(stack, "alice", "by-hand-1") == "deleted", 15)
    wait_for(lambda: not versions(thumbnail), 15)

    s3.put_object(Bucket=stack.bucket, Key=key, Body=b"too late", ContentType="text/plain")
    wait_for(lambda: not versions(key), 15)
    assert file_status(stack, "alice", "by-hand-1") == "deleted"


def test_the_stack_file_is_removed_when_the_stack_stops(tmp_path):
    stack = LocalStack(state_dir=tmp_path, moto_port=0, ingest=FAST).start()
    try:
        assert stack.stack_file.exists()
    finally:
        stack.stop()
    assert not stack.stack_file.exists()
