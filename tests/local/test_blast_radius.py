"""No file can hurt another, on the local stack: one batch holds a file that
overruns its time, one that overruns its memory, and eight innocent files.

The worker runs in an emulated execution environment with Lambda's limits
(local/runtime.py), so what happens here is what Lambda would do."""

import io
import json
import time
import zipfile

import pytest
from PIL import Image

from contract.ingest import IngestSettings
from local.esm import failed_message_ids, lambda_record
from local.runtime import ExecutionEnvironment
from local.stack import LocalStack
from workers.extraction import registry

# On the emulated queue clocks: `make test` runs these alone, after the rest.
pytestmark = pytest.mark.clocks

# Production's clock, so each file gets its full budget; a small memory size,
# so a file's share of it is small enough for one big image to overrun, and
# the CPU it buys (0.18 vCPU, as on Lambda) makes a file's budget 0.87 s of CPU.
BLAST = IngestSettings(worker_timeout_s=60, worker_memory_mb=320, batching_window_s=2, receive_wait_s=1,
                       maximum_concurrency=2)


def many_frames_gif() -> bytes:
    """A GIF of tiny frames: counting them walks every one, which takes longer
    than a file's budget without ever needing much memory. As many as the
    image read budget lets the extractor walk (2.7 million): 5 s of CPU on the
    machine this was measured on, six times a file's budget at 320 MB, so only
    a machine six times faster per core could count them in time."""
    one = io.BytesIO()
    Image.new("P", (1, 1)).save(one, "GIF")
    data = one.getvalue()
    frame_start = data.index(b",")
    frame = data[frame_start:-1]
    # Short of the read budget by a tenth: the reader fetches whole blocks.
    frames = registry.kind("image").budget.fetch_bytes * 9 // 10 // len(frame)
    return data[:frame_start] + frame * frames + b";"


def big_canvas_png() -> bytes:
    """100 KB on disk, 96 MB decoded: its thumbnail needs more memory than one
    file's share of a 320 MB worker."""
    out = io.BytesIO()
    Image.new("RGBA", (6000, 4000), (200, 30, 30, 255)).save(out, "PNG")
    return out.getvalue()


def small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "teal").save(out, "PNG")
    return out.getvalue()


def small_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "alpha")
    return out.getvalue()


INNOCENTS = {
    "notes.txt": (b"plain words\n" * 20, "text/plain"),
    "table.csv": (b"a,b,c\n1,2,3\n4,5,6\n", "text/csv"),
    "data.json": (json.dumps({"k": list(range(50))}).encode(), "application/json"),
    "photo.png": (small_png(), "image/png"),
    "bundle.zip": (small_zip(), "application/zip"),
    "tabs.tsv": (b"x\ty\n1\t2\n", "text/tab-separated-values"),
    "empty.bin": (b"", "application/octet-stream"),
    "blob.bin": (bytes(range(256)) * 8, "application/octet-stream"),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("blast"), ingest=BLAST) as running:
        yield running


def test_a_batch_with_a_time_hog_and_a_memory_hog_processes_its_eight_innocents(stack, tmp_path):
    s3, sqs = stack.client("s3"), stack.client("sqs")
    files = {"slow.gif": (many_frames_gif(), "image/gif"), "huge.png": (big_canvas_png(), "image/png"),
             **INNOCENTS}
    # The mapping's pollers would split the ten between them; this test makes
    # the one batch itself, exactly as the mapping would, and invokes the worker
    # in an environment of its own with the function's limits.
    stack.mapping.disable()
    time.sleep(BLAST.receive_wait_s + 1)
    for index, (name, (body, content_type)) in enumerate(files.items()):
        s3.put_object(Bucket=stack.bucket, Key=f"incoming/alice/blast-{index}/{name}", Body=body,
                      ContentType=content_type)
    batch = _receive(sqs, stack.outputs["queueUrl"], len(files))
    environment = ExecutionEnvironment(stack.worker_spec(), tmp_path / "ingest.log")
    try:
        invocation = environment.invoke(
            {"Records": [lambda_record(message, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1")
                         for message in batch]})
    finally:
        environment.stop()

    assert not invocation.failed, invocation.error
    assert failed_message_ids(invocation, [message["MessageId"] for message in batch]) == set()
    statuses = {name: _record(stack, f"blast-{index}") for index, name in enumerate(files)}
    print("\n" + "\n".join(f"{name}: {item['status']} {item.get('error') or ''}" for name, item in statuses.items()))
    assert all(statuses[name]["status"] == "processed" for name in INNOCENTS)
    slow, huge = statuses["slow.gif"], statuses["huge.png"]
    assert slow["status"] == "failed" and slow["error"]["code"] == "too_large"
    assert "second" in slow["error"]["message"] or "CPU" in slow["error"]["message"]
    assert huge["status"] == "failed" and huge["error"]["code"] == "too_large"
    assert "memory" in huge["error"]["message"]
    assert _visible(sqs, stack.outputs["deadLetterQueueUrl"]) == 0


def _receive(sqs, url: str, count: int) -> list[dict]:
    """Exactly `count` messages, in as many receives as SQS needs."""
    messages: dict[str, dict] = {}
    deadline = time.monotonic() + 30
    while len(messages) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           VisibilityTimeout=300, AttributeNames=["All"]).get("Messages", []):
            messages[message["MessageId"]] = message
    assert len(messages) == count
    return list(messages.values())


def _visible(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _record(stack, file_id: str) -> dict:
    from boto3.dynamodb.types import TypeDeserializer

    item = stack.client("dynamodb").get_item(TableName=stack.outputs["tableName"], ConsistentRead=True, Key={
        "pk": {"S": "USER#alice"}, "sk": {"S": f"FILE#{file_id}"}})["Item"]
    return {name: TypeDeserializer().deserialize(value) for name, value in item.items()}
