"""Parity between what the alarms read and what is really emitted: every
metric an alarm reads is one the worker writes (its EMF, read as CloudWatch
reads it: namespace, name and the exact dimension set Powertools writes) or
one AWS publishes with those dimensions, as the local stack publishes it.
A renamed metric or dimension on either side fails here."""

from __future__ import annotations

import contextlib
import json
import random
import sys

from botocore.awsrequest import AWSRequest

from contract.alarms import HTTP_API_STAGE, Insights, Metric, MetricMath, alarms
from contract.ingest import INGEST
from contract.metrics import FILES_FAILED, FILES_PROCESSED
from local.cloudwatch import emf, insights
from local.cloudwatch.service import LocalCloudWatch
from local.faults import Faults, Injector
from local.runtime import Invocation
from tests.workers.conftest import NAMES, put
from tests.workers.s3_events import notification, s3_event, scan_result, scheduled_event, sqs_event
from workers.ingest import handler as ingest

API_ID = "a1b2c3d4e5"


def worker_series(context, capsys, monkeypatch) -> set:
    """The worker's EMF for a processed and a failed file, a failed malware
    scan and the scan sweep, through its handler."""
    monkeypatch.setattr(ingest.logger.registered_handler, "stream", sys.stdout)
    version = put("incoming/alice/f1/report.txt")["VersionId"]
    for key in ("incoming/alice/f1/report.txt", "incoming/alice/gone/x.txt"):
        ingest.handler(sqs_event(notification(s3_event(key, version_id=version if "f1" in key else None))), context)
    ingest.handler(sqs_event(scan_result("incoming/alice/f1/report.txt", version, "FAILED")), context)
    ingest.handler(sqs_event(scheduled_event("2026-11-21T10:05:00Z")), context)
    return {(s.namespace, s.name, s.dimensions)
            for line in capsys.readouterr().out.splitlines() for s in emf.samples(line)}


def stack_series(tmp_path) -> set:
    """AWS's own metrics as the local stack publishes them, a throttle the
    fault injector answered in DynamoDB's place included."""
    log = tmp_path / "ingest.log"
    log.touch()
    cloudwatch = LocalCloudWatch("http://127.0.0.1:9", "us-east-1", NAMES, (), tmp_path, logs=[log])
    request = AWSRequest("POST", "https://dynamodb.us-east-1.amazonaws.com/",
                         data=json.dumps({"TableName": NAMES.table}).encode())
    with open(log, "a") as stderr, contextlib.redirect_stderr(stderr):
        Injector(Faults(dynamodb_throttle=1.0), random.Random(0)).before_send(
            request.prepare(), "before-send.dynamodb.UpdateItem")
    try:
        cloudwatch._read_logs()
        for function in (NAMES.ingest_function, NAMES.api_function):
            cloudwatch.invoked(function, Invocation("r", error="Task timed out"))
        cloudwatch.throttled(NAMES.ingest_function)
        cloudwatch.requested(API_ID, HTTP_API_STAGE, 500, 12.0)
        for queue in (NAMES.queue, NAMES.dead_letter_queue, NAMES.events_dead_letter_queue,
                      NAMES.webhook_dead_letter_queue):
            cloudwatch.queue_sampled(queue, 1, 60)
        return set(cloudwatch.store.series())
    finally:
        cloudwatch.inbox.stop()


def series_key(metric: Metric) -> tuple:
    """A metric as CloudWatch identifies it: namespace, name and its exact dimension set."""
    return metric.namespace, metric.name, tuple(sorted((k, str(v)) for k, v in metric.dimensions.items()))


def test_every_alarm_reads_a_metric_that_is_emitted_with_its_exact_dimensions(aws, context, capsys, monkeypatch,
                                                                               tmp_path):
    emitted = worker_series(context, capsys, monkeypatch) | stack_series(tmp_path)
    for spec in alarms(NAMES, INGEST, API_ID, malware_scan=True, webhooks=True):
        if isinstance(spec.source, Insights):
            query = insights.parse(spec.source.query)
            assert any(query.matches(namespace, name, dict(dimensions)) for namespace, name, dimensions in emitted), \
                f"{spec.signal}: nothing emitted matches {spec.source.query}"
            continue
        metrics = spec.source.metrics.values() if isinstance(spec.source, MetricMath) else [spec.source]
        for metric in metrics:
            assert series_key(metric) in emitted, \
                f"{spec.signal}: {series_key(metric)} is never emitted; emitted: {sorted(emitted)}"


def test_the_failed_share_reads_the_failed_and_processed_totals_each_file_once(aws, context, capsys, monkeypatch):
    """FilesFailed is written twice per failure (total and per code); the
    alarm's exact dimension set keeps it to the total, and FilesProcessed is
    written with the same set, so the share's two sides count alike."""
    emitted = worker_series(context, capsys, monkeypatch)
    [files_failed] = [spec for spec in alarms(NAMES, INGEST, API_ID) if spec.signal == "files-failed"]
    reads = {metric.name: series_key(metric) for metric in files_failed.source.metrics.values()}
    assert set(reads) == {FILES_FAILED, FILES_PROCESSED}
    for name in (FILES_FAILED, FILES_PROCESSED):
        written = [series for series in emitted if series[1] == name]
        assert written.count(reads[name]) == 1, (name, written)
    assert len([series for series in emitted if series[1] == FILES_FAILED]) == 2
    assert reads[FILES_FAILED][2] == reads[FILES_PROCESSED][2]
