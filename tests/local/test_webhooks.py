"""Webhooks on the local stack: events put on the stack's bus reach their
endpoints through the rules, the delivery queue and the delivery function,
signed, retried on the schedule, and dead-lettered past it (LOCAL_DELIVERY:
waits of 1, 2, 4 and 4 s)."""

from __future__ import annotations

import pytest
import requests
from standardwebhooks import Webhook

from contract.events import FILE_FAILED, FILE_PROCESSED
from local.stack import LOCAL_DELIVERY, LocalStack
from tests.local.stack_helpers import FAST, wait_for
from tests.local.webhooks import put_event, running
from tests.ops.drill import ops

pytestmark = pytest.mark.clocks


@pytest.fixture(scope="module")
def receivers():
    with running("flaky", "failures", "down", "vault") as started:
        yield started


@pytest.fixture(scope="module")
def stack(tmp_path_factory, receivers):
    stack = LocalStack(state_dir=tmp_path_factory.mktemp("webhooks"), ingest=FAST, inbox_port=0,
                       secrets_manager_webhooks=frozenset({"vault"}))
    stack.webhooks = (stack.webhook("flaky", receivers["flaky"].url),
                      stack.webhook("failures", receivers["failures"].url, (FILE_FAILED,)),
                      stack.webhook("down", receivers["down"].url),
                      stack.webhook("vault", receivers["vault"].url, (FILE_FAILED,)))
    with stack:
        yield stack


def verified(stack: LocalStack, endpoint: str, request: dict) -> dict:
    """The event, once its signature checks out with the endpoint's secret."""
    return Webhook(stack.webhook_secrets[endpoint]).verify(request["body"], request["headers"])


def test_a_receiver_that_fails_twice_then_succeeds_gets_the_same_signed_event_three_times(stack, receivers):
    flaky = receivers["flaky"]
    flaky.failures = [500, 503]
    sent = put_event(stack, FILE_PROCESSED)

    wait_for(lambda: len(flaky.requests) >= 3, 30)
    requests = flaky.requests[:3]
    assert [r["headers"]["webhook-id"] for r in requests] == [sent["eventId"]] * 3
    for request in requests:
        event = verified(stack, "flaky", request)
        assert event["detail"] == sent and event["detail-type"] == FILE_PROCESSED
        assert event["time"].endswith("Z")
    # Each retry waited its step of the schedule (SQS's visibility has whole seconds).
    gaps = [later["at"] - earlier["at"] for earlier, later in zip(requests, requests[1:], strict=False)]
    assert gaps[0] >= LOCAL_DELIVERY.backoff_s(1) - 0.5 and gaps[1] >= LOCAL_DELIVERY.backoff_s(2) - 0.5, gaps
    # Acknowledged: nothing more arrives, and nothing is dead-lettered.
    wait_for(lambda: stack.deliveries.stats.deleted >= 1, 10)


def test_an_endpoint_gets_only_the_detail_types_it_asked_for(stack, receivers):
    processed = put_event(stack, FILE_PROCESSED)
    failed = put_event(stack, FILE_FAILED, status="failed", code="unsupported", message="not a kind we read")

    # The bus keeps no order between the two: the endpoint for every type gets both.
    wait_for(lambda: {failed["eventId"], processed["eventId"]}
             <= {e["detail"]["eventId"] for e in receivers["flaky"].events()}, 20)
    wait_for(lambda: receivers["failures"].requests, 20)
    got = {e["detail"]["eventId"] for e in receivers["failures"].events()}
    assert failed["eventId"] in got and processed["eventId"] not in got


def settled(stack: LocalStack) -> bool:
    """Every delivery so far acknowledged: the delivery queue is empty."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["webhookQueueUrl"], AttributeNames=["All"])["Attributes"]
    return all(attributes[f"ApproximateNumberOfMessages{kind}"] == "0" for kind in ("", "NotVisible", "Delayed"))


def test_an_endpoint_whose_secret_is_in_secrets_manager_gets_deliveries_signed_with_it(stack, receivers):
    [endpoint] = [e for e in stack.webhooks if e.name == "vault"]
    assert endpoint.secret_parameter.startswith("arn:aws:secretsmanager:")
    failed = put_event(stack, FILE_FAILED, status="failed", code="corrupt", message="unreadable")
    [request] = wait_for(lambda: [r for r in receivers["vault"].requests
                                   if r["headers"]["webhook-id"] == failed["eventId"]], 20)
    assert verified(stack, "vault", request)["detail"] == failed


def test_a_receiver_down_past_the_retry_window_leaves_the_delivery_in_the_dead_letter_queue(stack, receivers):
    down = receivers["down"]
    # The earlier tests' events reach this endpoint too: only this one's may fail.
    wait_for(lambda: settled(stack), 30)
    down.down = True
    answered = len(down.requests)
    sent = put_event(stack, FILE_PROCESSED)
    sqs = stack.client("sqs")

    def dead_lettered() -> int:
        return int(sqs.get_queue_attributes(QueueUrl=stack.outputs["webhookDeadLetterQueueUrl"],
                                            AttributeNames=["ApproximateNumberOfMessages"])
                   ["Attributes"]["ApproximateNumberOfMessages"])

    wait_for(lambda: dead_lettered() >= 1, 90, 0.5)
    assert dead_lettered() == 1
    dead = sqs.receive_message(QueueUrl=stack.outputs["webhookDeadLetterQueueUrl"], AttributeNames=["All"],
                               VisibilityTimeout=0)["Messages"][0]
    assert sent["eventId"] in dead["Body"]
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= LOCAL_DELIVERY.max_receive_count
    assert len(down.requests) == answered


def test_ops_webhooks_shows_each_endpoints_deliveries_and_redrive_delivers_the_dead_one(stack, receivers, capsys):
    down = receivers["down"]
    code, report = ops(capsys, stack.stack_file, "webhooks")
    assert code == 1
    by_endpoint = {row["endpoint"]: row for row in report["endpoints"]}
    [dead] = by_endpoint["down"]["deadEvents"]
    assert by_endpoint["down"]["deadLettered"] == 1
    assert by_endpoint["down"]["failedAttempts"] >= LOCAL_DELIVERY.max_receive_count
    assert by_endpoint["flaky"]["delivered"] >= 3 and by_endpoint["flaky"]["failedAttempts"] >= 2
    assert by_endpoint["flaky"]["deadLettered"] == 0

    # Another endpoint's redrive leaves it where it is.
    assert ops(capsys, stack.stack_file, "webhooks", "redrive", "--endpoint", "flaky")[1] == {
        "moved": 0, "left": 1, "endpoint": "flaky"}
    down.down = False
    code, moved = ops(capsys, stack.stack_file, "webhooks", "redrive", "--endpoint", "down")
    assert (code, moved) == (0, {"moved": 1, "left": 0, "endpoint": "down"})
    wait_for(lambda: dead in [r["headers"]["webhook-id"] for r in down.requests], 20)
    assert verified(stack, "down", down.requests[-1])["detail"]["eventId"] == dead
    code, report = ops(capsys, stack.stack_file, "webhooks")
    assert code == 0 and all(row["deadLettered"] == 0 for row in report["endpoints"])


def test_the_local_inbox_verifies_and_shows_what_was_delivered(stack):
    sent = put_event(stack, FILE_PROCESSED)
    shown = wait_for(lambda: [r for r in requests.get(stack.inbox.url + "/events", timeout=5).json()["received"]
                              if r["webhookId"] == sent["eventId"]], 20)
    assert shown[0]["event"]["detail"] == sent
    assert stack.inbox.snapshot()["rejected"] == []


def test_no_secret_or_signature_reaches_the_logs(stack):
    log = (stack.log_dir / "webhooks.log").read_text()
    assert "Webhook delivered" in log and "Webhook not acknowledged" in log
    for secret in stack.webhook_secrets.values():
        assert secret not in log and secret.removeprefix("whsec_") not in log
    assert "v1," not in log and "webhook-signature" not in log
