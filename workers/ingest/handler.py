"""The ingest worker's Lambda handler: SQS messages carrying S3 notifications
or GuardDuty scan results in, each applied to its file
(workers/ingest/file_events.py).

One SQS message may hold several S3 records; they are handled in order, and any
transient failure fails the whole message so SQS redelivers it (the records that
already succeeded are idempotent, so the redelivery changes nothing for them).

A batch's messages run side by side on a bounded pool of threads, except that
messages about the same file run in batch order, one after another
(workers/ingest/batch.py). Log keys are per thread.
"""

from __future__ import annotations

import gc

# Init makes only what lives as long as the environment, so collecting while
# it runs is wasted work (about a fifth of the import); the end of this module
# freezes what init made and turns collection back on.
gc.disable()

import functools
import os
import time

from aws_lambda_powertools import Logger, Metrics, Tracer

# Nothing the worker imports loads pydantic (its messages are Powertools' data
# classes, workers/ingest/notifications.py): the batch utility would import
# every parser model (0.2 s) if it found pydantic already loaded.
from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from contract.functions import ENV_STACK
from contract.metrics import INGEST_SERVICE, NAMESPACE, STACK_DIMENSION
from workers.ingest import file_events
from workers.ingest.batch import ConcurrentBatchProcessor
from workers.ingest.notifications import ScanResult, ScanSweep, TestEvent, files_of, parse_body
from workers.storage import clients

# What a record keeps back from the invocation's remaining time to store its
# thumbnail, write itself and flush metrics: 2 s, or a quarter of a short timeout.
RECORD_RESERVE_S = 2.0
RECORD_RESERVE_SHARE = 0.25
# Messages handled at once: a full batch. Extraction children are bounded
# apart, by the function's memory (workers/extraction/isolated.py).
CONCURRENT_MESSAGES = 10

logger = Logger(service=INGEST_SERVICE)
tracer = Tracer(service=INGEST_SERVICE, patch_modules=clients.TRACED_MODULES)
metrics = Metrics(namespace=NAMESPACE, service=INGEST_SERVICE)
# Stacks share an account and a namespace; alarms select their own stack's series.
metrics.set_default_dimensions(**{STACK_DIMENSION: os.environ[ENV_STACK]})
processor = ConcurrentBatchProcessor(event_type=EventType.SQS, files_of=files_of, max_workers=CONCURRENT_MESSAGES)


def record_handler(record: SQSRecord, lambda_context, reserve_s: float) -> None:
    """One SQS message (Powertools' `record`): a scan result, or its S3 events
    in order, each with the invocation's remaining time less `reserve_s` to
    extract in."""
    body = parse_body(record.body)
    if isinstance(body, TestEvent):
        logger.info("Acknowledged S3 test event")
        return
    if isinstance(body, ScanResult):
        file_events.apply_scan(body)
        return
    if isinstance(body, ScanSweep):
        file_events.count_stuck_scans(body.at)
        return
    for event in body.events:
        not_after = time.monotonic() + lambda_context.get_remaining_time_in_millis() / 1000 - reserve_s
        file_events.apply(event, not_after)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    reserve_s = min(RECORD_RESERVE_S, context.get_remaining_time_in_millis() / 1000 * RECORD_RESERVE_SHARE)
    return process_partial_response(event=event, record_handler=functools.partial(record_handler, reserve_s=reserve_s),
                                    processor=processor, context=context)


# Init's objects move to the permanent generation: later collections skip them, and
# the extraction children forked per file do not copy the pages they live on
# by touching them (the gc.freeze documentation's advice for fork).
gc.freeze()
gc.enable()
