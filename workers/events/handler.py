"""The lifecycle event producer's Lambda handler: a batch of the table's stream
records in, their outcomes' events on the stack's bus (workers/events/publish.py),
and the first record not yet told reported back, so the mapping retries from
it and nothing after it is skipped."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

from contract.functions import ENV_EVENT_BUS
from contract.metrics import EVENTS_SERVICE
from workers.events import publish
from workers.storage import clients

logger = Logger(service=EVENTS_SERVICE)
BUS = os.environ[ENV_EVENT_BUS]


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    events = publish.pending(event["Records"], BUS)
    refused = publish.publish(clients.events(), events)
    logger.info("Put lifecycle events", extra={"records": len(event["Records"]), "events": len(events),
                                                "refusedFrom": refused})
    return {"batchItemFailures": [] if refused is None else [{"itemIdentifier": refused}]}
