"""The delivery function: what it signs and sends, what counts as delivered,
how long a slow or absent receiver holds it, and the handler over a real-shaped
SQS batch on in-process moto (partial failure, backoff, metrics)."""

from __future__ import annotations

import base64
import importlib
import json
import secrets
import socket
import sys
import time
from datetime import UTC, datetime

import boto3
import pytest
import urllib3
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from standardwebhooks import Webhook

from contract.functions import ENV_STACK, webhook_delivery
from contract.metrics import ENDPOINT_DIMENSION, NAMESPACE, WEBHOOK_ATTEMPTS_FAILED, WEBHOOKS_DELIVERED
from contract.webhooks import (
    ENV_WEBHOOK_DELIVERY,
    ENV_WEBHOOK_ENDPOINTS,
    SECRET_PREFIX,
    DeliverySettings,
    WebhookEndpoint,
    endpoints_variable,
)
from local.cloudwatch import emf
from local.esm import lambda_record
from local.runtime import FunctionSpec, LambdaContext
from tests.local.webhooks import Receiver, detail
from tests.workers.conftest import NAMES
from workers.webhooks.delivery import Delivery, DeliveryFailed, post, signed_headers

SECRET = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
SETTINGS = DeliverySettings(connect_timeout_s=0.5, read_timeout_s=0.5)


def delivery() -> Delivery:
    return Delivery("search", {"version": "0", "id": "e", "detail-type": "File Processed", "source": "uploads",
                               "time": "2026-12-05T12:00:00Z", "detail": detail()})


@pytest.fixture
def receiver():
    started = Receiver()
    started.start()
    yield started
    started.stop()


def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(timeout=urllib3.Timeout(connect=SETTINGS.connect_timeout_s,
                                                       read=SETTINGS.read_timeout_s))


def test_the_signature_verifies_with_the_reference_library_and_names_the_event():
    sent = delivery()
    headers = signed_headers(SECRET, sent, datetime.now(UTC))
    assert headers["webhook-id"] == sent.event["detail"]["eventId"]
    assert Webhook(SECRET).verify(sent.body, headers) == sent.event
    assert headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize(("status", "acknowledged"), [(200, True), (204, True), (302, False), (404, False),
                                                      (429, False), (500, False)])
def test_only_a_2xx_acknowledges_and_a_redirect_is_not_followed(receiver, status, acknowledged):
    receiver.failures = [status] if status != 204 else []
    sent = delivery()
    headers = signed_headers(SECRET, sent, datetime.now(UTC))
    if acknowledged:
        post(http(), receiver.url, sent, headers)
    else:
        with pytest.raises(DeliveryFailed, match=f"HTTP {status}"):
            post(http(), receiver.url, sent, headers)
    assert len(receiver.requests) == 1
    assert json.loads(receiver.requests[0]["body"]) == sent.event


def test_a_receiver_slower_than_the_read_timeout_fails_within_it(receiver):
    receiver.delay_s = 3
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="ReadTimeoutError"):
        post(http(), receiver.url, delivery(), signed_headers(SECRET, delivery(), datetime.now(UTC)))
    assert time.monotonic() - started < SETTINGS.read_timeout_s + 1


def test_a_receiver_that_is_not_listening_fails_at_once():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="NewConnectionError"):
        post(http(), f"http://127.0.0.1:{port}/", delivery(), signed_headers(SECRET, delivery(), datetime.now(UTC)))
    assert time.monotonic() - started < 1


@pytest.fixture
def handler(monkeypatch, receiver):
    """The handler, imported with two endpoints (one answering, one failing),
    on moto with the delivery queue and the secrets."""
    failing = Receiver(failures=(503,) * 10)
    failing.start()
    endpoints = (WebhookEndpoint("search", receiver.url, "/uploads/test/webhooks/search"),
                 WebhookEndpoint("alerts", failing.url, "alerts-secret"))
    with mock_aws():
        monkeypatch.setenv(ENV_STACK, NAMES.stack)
        monkeypatch.setenv(ENV_WEBHOOK_ENDPOINTS, endpoints_variable(endpoints))
        monkeypatch.setenv(ENV_WEBHOOK_DELIVERY, SETTINGS.variable)
        ssm = boto3.client("ssm", region_name="us-east-1")
        for endpoint in endpoints:
            ssm.put_parameter(Name=endpoint.secret_parameter, Value=SECRET, Type="SecureString")
        parameters.clear_caches()
        sys.modules.pop("workers.webhooks.handler", None)
        module = importlib.import_module("workers.webhooks.handler")
        module._sqs.cache_clear()
        yield module, failing
    failing.stop()
    sys.modules.pop("workers.webhooks.handler", None)


def test_the_handler_reports_only_the_failed_delivery_and_hides_it_for_its_backoff(handler, capsys, monkeypatch):
    module, failing = handler
    monkeypatch.setattr(module.logger.registered_handler, "stream", sys.stdout)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=NAMES.webhook_queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = {name: delivery().event for name in ("search", "alerts")}
    for name, event in events.items():
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"endpoint": name, "event": event}))
    # A first receive that came to nothing, as if an attempt had died: these are the second.
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    # Visible again at once unless the function hides them: what hides the failed one is its backoff.
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                   VisibilityTimeout=0)["Messages"]
    assert len(messages) == 2
    by_endpoint = {json.loads(m["Body"])["endpoint"]: m for m in messages}
    spec = FunctionSpec(name=NAMES.webhooks_function, handler=webhook_delivery().handler, timeout_s=45,
                        memory_mb=256, region="us-east-1")
    context = LambdaContext(spec, spec.lambda_environment(), "req-1", time.time() + 45)

    response = module.handler({"Records": [lambda_record(m, arn, "us-east-1") for m in messages]}, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": by_endpoint["alerts"]["MessageId"]}]}
    # The acknowledged one is the mapping's to delete; the failed one is hidden for
    # the second wait (SETTINGS.backoff_s(2)).
    sqs.delete_message(QueueUrl=url, ReceiptHandle=by_endpoint["search"]["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None
    assert len(failing.requests) == 1 and failing.requests[0]["headers"]["webhook-id"] == \
        events["alerts"]["detail"]["eventId"]
    out = capsys.readouterr().out
    assert SECRET not in out and SECRET.removeprefix(SECRET_PREFIX) not in out
    series = {(s.namespace, s.name, s.dimensions) for line in out.splitlines() for s in emf.samples(line)}
    # What `ops webhooks` lists and sums: one series per endpoint, with the stack's dimensions.
    dimensions = {"service": "webhooks", "stack": NAMES.stack}
    for name, endpoint in ((WEBHOOKS_DELIVERED, "search"), (WEBHOOK_ATTEMPTS_FAILED, "alerts")):
        key = tuple(sorted({**dimensions, ENDPOINT_DIMENSION: endpoint}.items()))
        assert (NAMESPACE, name, key) in series, series
