"""The webhook delivery function's Lambda handler: SQS messages, each one
(endpoint, event) delivery, POSTed signed (workers/webhooks/delivery.py).

A failed attempt hides its message for the schedule's next wait
(ChangeMessageVisibility) and is reported as a batch item failure, so SQS
hands it back then, and its redrive policy dead-letters it once the schedule
is spent (contract/webhooks.py). Secrets are read from SSM when first needed
and cached per execution environment; no header, body or secret is logged.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime

import boto3
import urllib3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from contract.functions import ENV_STACK
from contract.metrics import (
    ENDPOINT_DIMENSION,
    NAMESPACE,
    SERVICE_DIMENSION,
    STACK_DIMENSION,
    WEBHOOK_ATTEMPTS_FAILED,
    WEBHOOKS_DELIVERED,
    WEBHOOKS_SERVICE,
)
from contract.webhooks import (
    ENV_WEBHOOK_DELIVERY,
    ENV_WEBHOOK_ENDPOINTS,
    DeliverySettings,
    in_secrets_manager,
    parse_endpoints_variable,
)
from workers.webhooks import delivery

# A rotated secret is picked up within this long.
SECRET_MAX_AGE_S = 300

logger = Logger(service=WEBHOOKS_SERVICE)
STACK = os.environ[ENV_STACK]
# All failing is an ordinary outcome (a receiver down), not a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
ENDPOINTS = parse_endpoints_variable(os.environ[ENV_WEBHOOK_ENDPOINTS])
SETTINGS = DeliverySettings.from_variable(os.environ[ENV_WEBHOOK_DELIVERY])
http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=SETTINGS.connect_timeout_s,
                                                   read=SETTINGS.read_timeout_s))


@functools.cache
def _sqs():
    return boto3.client("sqs")


def _secret(reference: str) -> str:
    if in_secrets_manager(reference):
        return parameters.get_secret(reference, max_age=SECRET_MAX_AGE_S)
    return parameters.get_parameter(reference, decrypt=True, max_age=SECRET_MAX_AGE_S)


def _count(metric: str, endpoint: str) -> None:
    # One EMF blob per count: the endpoint dimension differs between a batch's records.
    with single_metric(name=metric, unit=MetricUnit.Count, value=1, namespace=NAMESPACE,
                       default_dimensions={SERVICE_DIMENSION: WEBHOOKS_SERVICE, STACK_DIMENSION: STACK}) as one:
        one.add_dimension(name=ENDPOINT_DIMENSION, value=endpoint)


def record_handler(record: SQSRecord) -> None:
    message = delivery.parse(record.body)
    endpoint = ENDPOINTS[message.endpoint]
    log = {"endpoint": endpoint.name, "eventId": message.event_id, "detailType": message.event.get("detail-type")}
    headers = delivery.signed_headers(_secret(endpoint.secret_parameter), message, datetime.now(UTC))
    try:
        status = delivery.post(http, endpoint.url, message, headers)
    except delivery.DeliveryFailed as failure:
        attempt = int(record.attributes.approximate_receive_count)
        wait_s = SETTINGS.backoff_s(attempt)
        _sqs().change_message_visibility(QueueUrl=record.queue_url, ReceiptHandle=record.receipt_handle,
                                         VisibilityTimeout=wait_s)
        _count(WEBHOOK_ATTEMPTS_FAILED, endpoint.name)
        logger.warning("Webhook not acknowledged", extra={**log, "attempt": attempt, "reason": str(failure),
                                                          "retryInSeconds": wait_s})
        raise
    _count(WEBHOOKS_DELIVERED, endpoint.name)
    logger.info("Webhook delivered", extra={**log, "status": status})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
