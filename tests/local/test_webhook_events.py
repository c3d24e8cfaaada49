"""Lifecycle events and webhooks together on the local stack: a real upload
through the API is told to an endpoint by the producer (table stream, bus),
the endpoint's rule, the delivery queue and the delivery function, signed
with the endpoint's secret, under the event ids `ops events` lists."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from contract.events import FILE_DELETED, FILE_FAILED, FILE_PROCESSED, FILE_UPLOADED
from local.stack import LocalStack
from ops import events as ops_events
from ops.outputs import Stack
from tests.e2e.api.conftest import Api, demo_api, upload_small, wait_for_status
from tests.local.stack_helpers import FAST, wait_for
from tests.local.test_webhooks import settled
from tests.local.webhooks import Receiver, running

pytestmark = pytest.mark.clocks


@pytest.fixture(scope="module")
def receivers():
    with running("hooks", "flaky") as started:
        yield started


@pytest.fixture(scope="module")
def stack(tmp_path_factory, receivers):
    stack = LocalStack(state_dir=tmp_path_factory.mktemp("webhook-events"), ingest=FAST)
    stack.webhooks = (stack.webhook("hooks", receivers["hooks"].url),
                      stack.webhook("flaky", receivers["flaky"].url, (FILE_PROCESSED,)))
    with stack:
        yield stack


@pytest.fixture(scope="module")
def api(stack) -> Api:
    return demo_api(stack)


@pytest.fixture(scope="module")
def ops_stack(stack) -> Stack:
    return Stack.from_file(stack.stack_file)


def listed(stack: LocalStack, ops_stack: Stack, file_id: str) -> list[dict]:
    """The file's events as `ops events FILE_ID` lists them, once the producer has caught up."""
    assert stack.stream_mapping.settle(30), "the stream mapping did not catch up"
    return ops_events.events(ops_stack, file_id)


def delivered(stack: LocalStack, receiver: Receiver, endpoint: str, file_id: str, ids: int,
              deliveries: int = 0) -> list[dict]:
    """The receiver's requests about the file once they carry `ids` event ids
    (in at least `deliveries` requests), each verified with the endpoint's secret
    (Standard Webhooks: signature and timestamp)."""
    def about_the_file() -> list[dict]:
        return [r for r in receiver.requests if f'"{file_id}"'.encode() in r["body"]]

    def arrived() -> list[dict]:
        found = about_the_file()
        return len({r["headers"]["webhook-id"] for r in found}) >= ids and len(found) >= deliveries and found

    requests = wait_for(arrived, 30)
    for request in requests:
        request["event"] = Webhook(stack.webhook_secrets[endpoint]).verify(request["body"], request["headers"])
        assert request["headers"]["webhook-id"] == request["event"]["detail"]["eventId"]
    return requests


def told_by_type(requests: list[dict]) -> dict[str, str]:
    return {r["event"]["detail-type"]: r["event"]["detail"]["eventId"] for r in requests}


def test_an_upload_is_delivered_uploaded_then_processed_under_the_ids_ops_events_lists(stack, ops_stack, api,
                                                                                      receivers):
    file_id = upload_small(api, "hooked.txt", b"told to an integration\n")
    assert wait_for_status(api, file_id)["status"] == "processed"
    requests = delivered(stack, receivers["hooks"], "hooks", file_id, 2)
    listing = listed(stack, ops_stack, file_id)
    assert told_by_type(requests) == {e["detail-type"]: e["detail"]["eventId"] for e in listing}
    assert [e["detail-type"] for e in listing] == [FILE_UPLOADED, FILE_PROCESSED]
    assert {r["event"]["detail"]["fileId"] for r in requests} == {file_id}
    assert [r["event"]["detail"] for r in requests if r["event"]["detail-type"] == FILE_PROCESSED] == \
        [e["detail"] for e in listing if e["detail-type"] == FILE_PROCESSED]


def test_a_hostile_file_is_delivered_failed_with_its_code(stack, ops_stack, api, receivers):
    file_id = upload_small(api, "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
    file = wait_for_status(api, file_id)
    assert file["status"] == "failed"
    requests = delivered(stack, receivers["hooks"], "hooks", file_id, 2)
    [failed] = [r["event"] for r in requests if r["event"]["detail-type"] == FILE_FAILED]
    assert failed["detail"]["error"]["code"] == file["error"]["code"]
    assert told_by_type(requests) == {e["detail-type"]: e["detail"]["eventId"]
                                      for e in listed(stack, ops_stack, file_id)}
    # Only File Processed reaches the endpoint that asked for nothing else.
    assert not [r for r in receivers["flaky"].requests if file_id.encode() in r["body"]]


def test_a_delete_is_delivered_deleted(stack, ops_stack, api, receivers):
    file_id = upload_small(api, "gone.txt", b"to be forgotten\n")
    wait_for_status(api, file_id)
    assert api("DELETE", f"/files/{file_id}").status_code == 204
    requests = delivered(stack, receivers["hooks"], "hooks", file_id, 3)
    assert told_by_type(requests) == {e["detail-type"]: e["detail"]["eventId"]
                                      for e in listed(stack, ops_stack, file_id)}
    assert FILE_DELETED in told_by_type(requests)


def test_a_receiver_that_fails_twice_then_succeeds_gets_an_uploads_event_three_times_signed(stack, ops_stack,
                                                                                           api, receivers):
    flaky = receivers["flaky"]
    # The earlier uploads' deliveries are acknowledged: only this one's meet the failures.
    wait_for(lambda: settled(stack), 30)
    flaky.failures = [500, 503]
    file_id = upload_small(api, "flaky.txt", b"told three times\n")
    wait_for_status(api, file_id)
    requests = delivered(stack, flaky, "flaky", file_id, 1, deliveries=3)
    [processed] = [e for e in listed(stack, ops_stack, file_id) if e["detail-type"] == FILE_PROCESSED]
    assert [r["headers"]["webhook-id"] for r in requests] == [processed["detail"]["eventId"]] * 3
    assert all(r["event"]["detail"] == processed["detail"] for r in requests)
    # Acknowledged on the third try: nothing more comes.
    wait_for(lambda: settled(stack), 30)
    assert len([r for r in flaky.requests if file_id.encode() in r["body"]]) == 3
