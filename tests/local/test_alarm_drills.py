"""Drills: the real fault that should page, on a local stack whose CloudWatch
evaluates the deployed alarm definitions. Each drill shows the alarm reach
ALARM with one notification in the on-call inbox, the runbook's ops commands
finding the cause, and the runbook's fix bringing it back to OK with its OK
notification. Periods run 60 times faster than real (a 5-minute period lasts
5 s); thresholds, statistics and missing-data rules are the deployed ones.

Each drill prints its row of docs/runbooks.md's drill table (run with -s)."""

from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests

from contract.alarms import FAILED_SHARE_MIN_FILES, FAILED_SHARE_PERCENT, AlarmSpec, alarms
from contract.functions import ENV_TABLE_NAME
from contract.table import SCAN_INDEX_SORT_KEY, scan_pending_sk
from local.cloudwatch.evaluation import period_start
from local.cloudwatch.inbox import read
from local.faults import Faults
from local.guardduty import clamd_installed
from local.stack import REGION, LocalStack
from local.token import demo_token
from ops.outputs import Stack
from tests.extractors.files import image
from tests.local.stack_helpers import FAST, wait_for
from tests.local.webhooks import Receiver, put_event
from tests.ops.drill import created_event, ops
from workers.storage.dynamo import iso
from workers.storage.records import get, key_of, scan_of

pytestmark = pytest.mark.clocks

SCALE = 60


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("alarms"), ingest=FAST, alarm_clock_scale=SCALE) as stack:
        yield stack


def alarm_state(running: LocalStack, alarm: str) -> str:
    return running.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]


def pages(running: LocalStack, alarm: str) -> list[str]:
    """The states the inbox was told of for one alarm, in order."""
    return [n["Message"]["NewStateValue"] for n in read(running.cloudwatch.inbox.path)
            if n["Message"]["AlarmName"] == alarm]


def until(running: LocalStack, alarm: str, state: str, timeout_s: float) -> float:
    started = time.monotonic()
    wait_for(lambda: alarm_state(running, alarm) == state, timeout_s, 0.25)
    reached = round(time.monotonic() - started, 1)
    # The state is set before its notification is published, as CloudWatch
    # does: give the inbox a moment, and let the caller's asserts judge it.
    deadline = time.monotonic() + 10
    while pages(running, alarm)[-1:] != [state] and time.monotonic() < deadline:
        time.sleep(0.1)
    return reached


def upload_until_alarm(running: LocalStack, alarm: str, name: str, gap_s: float) -> float:
    """Up to 150 small uploads, `gap_s` apart, until the alarm fires; the
    seconds from the first upload to ALARM."""
    s3, bucket = running.client("s3"), running.outputs["bucketName"]
    started = time.monotonic()
    for n in range(150):
        s3.put_object(Bucket=bucket, Key=f"incoming/ida/{name}-{n}/notes.txt", Body=b"notes")
        time.sleep(gap_s)
        if alarm_state(running, alarm) == "ALARM":
            break
    until(running, alarm, "ALARM", 30)
    return round(time.monotonic() - started, 1)


def report(alarm: str, to_alarm_s: float, back_s: float) -> None:
    print(f"\nDRILL {alarm}: fired yes, {to_alarm_s} s to ALARM (after the fault), back to OK in {back_s} s")


def test_a_poison_message_pages_dlq_messages_and_purging_it_clears_the_page(running, capsys):
    alarm = running.names.prefix + "-dlq-messages"
    until(running, alarm, "OK", 30)
    sqs, queue = running.client("sqs"), running.outputs["queueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="not an S3 notification")
    # Five receives, one visibility timeout apart, before the DLQ holds it.
    to_alarm = until(running, alarm, "ALARM", 120)
    assert pages(running, alarm)[-1:] == ["ALARM"] and pages(running, alarm).count("ALARM") == 1

    code, status = ops(capsys, running.stack_file, "status")
    assert code == 1 and alarm in [a["name"] for a in status["alarms"]]
    assert status["deadLetterQueue"]["visible"] == 1
    code, listed = ops(capsys, running.stack_file, "alarms", "--state", "ALARM")
    history = running.client("cloudwatch").describe_alarm_history(AlarmName=alarm)["AlarmHistoryItems"]
    assert code == 1 and (alarm, 1.0, 1.0, "docs/runbooks.md#dlq-messages") in [
        (a["name"], a["lastValue"], a["threshold"], a["runbook"]) for a in listed], history
    # Its retries are not a stalled queue.
    assert running.names.prefix + "-queue-stalled" not in [a["name"] for a in listed]
    _, peeked = ops(capsys, running.stack_file, "dlq", "peek")
    assert "not an S3 notification" in str(peeked)

    # Poison that names no file: evidence noted, the runbook purges it.
    ops(capsys, running.stack_file, "dlq", "purge", "--yes")
    back = until(running, alarm, "OK", 60)
    # Held OK once the DLQ is empty (a peek can read as empty for a moment: it holds the message in flight).
    time.sleep(3 * 60 / SCALE)
    assert alarm_state(running, alarm) == "OK"
    assert pages(running, alarm)[-2:] == ["ALARM", "OK"] and pages(running, alarm).count("ALARM") == 1
    report(alarm, to_alarm, back)


def test_a_record_the_event_producer_cannot_read_pages_events_dlq_messages_and_purging_clears_it(running, capsys):
    alarm = running.names.prefix + "-events-dlq-messages"
    until(running, alarm, "OK", 30)
    dynamodb, table = running.client("dynamodb"), running.names.table
    # A file record with neither owner nor file id: the producer fails on it, bisects, retries, gives up.
    poison = {"pk": {"S": "USER#drill"}, "sk": {"S": "FILE#drill"}, "status": {"S": "processed"}, "seq": {"S": "1"}}
    dynamodb.put_item(TableName=table, Item=poison)
    to_alarm = until(running, alarm, "ALARM", 60)
    assert pages(running, alarm)[-1:] == ["ALARM"] and pages(running, alarm).count("ALARM") == 1
    code, status = ops(capsys, running.stack_file, "status")
    assert code == 1 and alarm in [a["name"] for a in status["alarms"]]

    # The runbook's fix: the cause removed, then the queue emptied.
    dynamodb.delete_item(TableName=table, Key={"pk": poison["pk"], "sk": poison["sk"]})
    sqs = running.client("sqs")
    sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=running.names.events_dead_letter_queue)["QueueUrl"])
    back = until(running, alarm, "OK", 60)
    time.sleep(3 * 60 / SCALE)
    assert alarm_state(running, alarm) == "OK"
    assert pages(running, alarm)[-2:] == ["ALARM", "OK"]
    report(alarm, to_alarm, back)


def test_a_disabled_event_source_mapping_pages_queue_stalled_and_enabling_it_clears_the_page(running, capsys):
    alarm = running.names.prefix + "-queue-stalled"
    threshold = running.ingest.visibility_timeout_s * running.ingest.max_receive_count
    until(running, alarm, "OK", 30)
    running.mapping.disable()
    try:
        sqs, queue = running.client("sqs"), running.outputs["queueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody=created_event(Stack.from_file(running.stack_file),
                                                                   "incoming/ida/stalled/f.txt"))
        to_alarm = until(running, alarm, "ALARM", threshold + 60)
        assert pages(running, alarm)[-1:] == ["ALARM"] and pages(running, alarm).count("ALARM") == 1
        code, status = ops(capsys, running.stack_file, "status")
        assert code == 1 and alarm in [a["name"] for a in status["alarms"]]
        assert status["queue"]["visible"] == 1 and status["queue"]["oldestAgeSeconds"] >= threshold
    finally:
        running.mapping.enable()
    back = until(running, alarm, "OK", 60)
    assert pages(running, alarm)[-2:] == ["ALARM", "OK"]
    report(alarm, to_alarm, back)


def next_period(running: LocalStack, period_s: int) -> None:
    """Wait for a period to begin: a burst split across two periods is two
    smaller datapoints, for CloudWatch as here."""
    clock = running.cloudwatch.clock
    now = clock.now()
    time.sleep((period_start(now, period_s) + period_s - now) / clock.scale + 0.1)


NOTES = b"notes"
# An image cut in half, and a page posing as one: files that really are bad.
PNG = image("PNG", size=(256, 256))
DAMAGED_PNG = PNG[: len(PNG) // 2]
HTML_AS_PNG = b"<!doctype html><html><script>alert(1)</script></html>"
# Steady traffic, as in the worker drills: each upload soon a batch of its own,
# which the drills' one-second worker finishes within its timeout.
UPLOAD_GAP_S = 0.3


def put_file(running: LocalStack, key: str, body: bytes) -> None:
    content_type = "image/png" if key.endswith(".png") else "text/plain"
    running.client("s3").put_object(Bucket=running.outputs["bucketName"], Key=key, Body=body,
                                    ContentType=content_type)


def test_a_wave_of_failed_files_pages_files_failed_and_it_clears_once_they_stop(running, capsys):
    """As a deploy that broke the image extractor: every image fails, whoever
    sends it, among the rest of the traffic."""
    alarm = running.names.prefix + "-files-failed"
    until(running, alarm, "OK", 30)
    owners = [f"user-{n}" for n in range(5)]
    next_period(running, files_failed(running).period_s)
    started = time.monotonic()
    for n in range(100):
        owner = owners[n % len(owners)]
        if n % 2:
            put_file(running, f"incoming/{owner}/wave-{n}/photo.png", DAMAGED_PNG)
        else:
            put_file(running, f"incoming/{owner}/wave-{n}/notes.txt", NOTES)
        time.sleep(UPLOAD_GAP_S)
        if alarm_state(running, alarm) == "ALARM":
            break
    until(running, alarm, "ALARM", 30)
    to_alarm = round(time.monotonic() - started, 1)
    assert pages(running, alarm)[-1:] == ["ALARM"] and pages(running, alarm).count("ALARM") == 1

    code, status = ops(capsys, running.stack_file, "status")
    assert code == 1 and alarm in [a["name"] for a in status["alarms"]]
    assert status["failedLastHour"].get("corrupt", 0) >= 5
    _, listed = ops(capsys, running.stack_file, "alarms", "--state", "ALARM")
    [firing] = [a for a in listed if a["name"] == alarm]
    assert firing["lastValue"] >= firing["threshold"] == FAILED_SHARE_PERCENT
    _, failed = ops(capsys, running.stack_file, "failed", "--since", "1h", "--code", "corrupt")
    wave = [f for f in failed if f["fileId"].startswith("wave-")]
    # One code, every owner, one kind: the system, not a user.
    assert {f["ownerId"] for f in wave} == set(owners) and {f["key"].rsplit(".", 1)[1] for f in wave} == {"png"}
    # The wave is over (as a rollback ends it): the next period holds no failures.
    back = until(running, alarm, "OK", 60)
    assert pages(running, alarm)[-2:] == ["ALARM", "OK"]
    report(alarm, to_alarm, back)


def test_a_small_share_of_hostile_files_at_volume_does_not_page_files_failed(running):
    """The healthy soak's mix: of every 50 uploads, 3 hostile ones in a row
    (6%; users send bad files on a good day). Here they open a period, the
    share's worst case (3 of the first 20), and nobody is paged."""
    alarm = running.names.prefix + "-files-failed"
    until(running, alarm, "OK", 30)
    before = pages(running, alarm)
    spec = files_failed(running)
    next_period(running, spec.period_s)
    since = running.cloudwatch.clock.now()
    keys = [f"incoming/ida/mix-{n}/photo.png" if n < 3 else f"incoming/ida/mix-{n}/notes.txt" for n in range(50)]
    for key in keys:
        put_file(running, key, HTML_AS_PNG if key.endswith(".png") else NOTES)
        time.sleep(UPLOAD_GAP_S)
    table = Stack.from_file(running.stack_file).table()
    assert wait_for(lambda: recorded(table, keys), 60, 0.5).count("failed") == 3
    # Evaluated after the last file's metrics were read (every half second).
    time.sleep(2)
    assert alarm_state(running, alarm) == "OK" and pages(running, alarm) == before
    # The share was judged, not waved through by the minimum: a period held enough files.
    handled: dict[float, float] = {}
    for metric in spec.source.metrics.values():
        for at, value in running.cloudwatch.store.samples(metric):
            if at >= since:
                period = period_start(at, spec.period_s)
                handled[period] = handled.get(period, 0) + value
    assert max(handled.values()) >= FAILED_SHARE_MIN_FILES, handled


def files_failed(running: LocalStack) -> AlarmSpec:
    [spec] = [s for s in alarms(running.names, running.ingest, running.api_id) if s.signal == "files-failed"]
    return spec


def recorded(table, keys: list[str]) -> list[str] | None:
    """Each file's status, once every one is processed or failed."""
    found = [(get(table, key.split("/")[1], key.split("/")[2]) or {}).get("status") for key in keys]
    return found if all(status in ("processed", "failed") for status in found) else None


def deploy_api(running: LocalStack, specs) -> None:
    """As a deploy of the API function: each environment starts again on `specs`."""
    for environment, spec in zip(running._gateway._environments, specs, strict=True):
        environment.spec = spec
        environment.stop()


def call_api(running: LocalStack, token: str) -> int:
    return requests.get(running.outputs["apiUrl"] + "/files", headers={"Authorization": f"Bearer {token}"},
                        timeout=30).status_code


def api_drill(running: LocalStack, capsys, signal: str, broken, answers: int = 500) -> tuple[float, float]:
    """Deploy the API with `broken` changes, call it until `signal` pages,
    check on-call sees it, roll back and call it until it clears."""
    alarm = f"{running.names.prefix}-{signal}"
    until(running, alarm, "OK", 30)
    token = demo_token(running.stack_file)
    deployed = [environment.spec for environment in running._gateway._environments]
    deploy_api(running, [dataclasses.replace(spec, **broken(spec)) for spec in deployed])
    next_period(running, 300)
    started = time.monotonic()
    # As many callers as the API has environments: users do not wait for each other.
    with ThreadPoolExecutor(running.api_concurrency) as callers:
        while alarm_state(running, alarm) != "ALARM" and time.monotonic() - started < 60:
            assert set(callers.map(lambda _: call_api(running, token), range(running.api_concurrency))) == {answers}
    to_alarm = round(time.monotonic() - started, 1)
    assert alarm_state(running, alarm) == "ALARM" and pages(running, alarm).count("ALARM") == 1
    code, status = ops(capsys, running.stack_file, "status")
    assert code == 1 and alarm in [a["name"] for a in status["alarms"]]
    rolled_back = time.monotonic()
    deploy_api(running, deployed)
    while alarm_state(running, alarm) != "OK" and time.monotonic() - rolled_back < 60:
        assert call_api(running, token) == 200
        time.sleep(1)
    assert alarm_state(running, alarm) == "OK"
    assert pages(running, alarm)[-2:] == ["ALARM", "OK"]
    back = round(time.monotonic() - rolled_back, 1)
    report(alarm, to_alarm, back)
    return to_alarm, back


def test_a_bad_api_deploy_pages_api_5xx_and_rolling_back_clears_it(running, capsys):
    # The deploy names a table its role cannot reach: every request a handled 500.
    api_drill(running, capsys, "api-5xx",
              lambda spec: {"environment": {**spec.environment, ENV_TABLE_NAME: "uploads-local-gone"}})
    # The runbook's first look: the API's log says what broke.
    assert "Unhandled error" in (running.log_dir / "api.log").read_text()


def test_an_api_that_outlives_its_timeout_pages_api_errors_and_rolling_back_clears_it(running, capsys):
    # A deploy with a timeout shorter than any request: each invocation ends as a Lambda error.
    api_drill(running, capsys, "api-errors", lambda spec: {"timeout_s": 0.05})


def test_a_slow_dependency_pages_api_latency_and_rolling_back_clears_it(running, capsys):
    # Every DynamoDB and S3 call of the API waits 2.5 s: requests succeed, slowly, for three periods.
    api_drill(running, capsys, "api-latency",
              lambda spec: {"environment": {**spec.environment, **Faults(latency_s=2.5).to_env()}}, answers=200)


def deploy_worker(running: LocalStack, specs) -> None:
    """As a deploy of the worker: batches in flight finish on the old code, new ones get the new."""
    running.mapping.disable()
    time.sleep(running.ingest.worker_timeout_s + 1)
    for environment, spec in zip(running.mapping.environments, specs, strict=True):
        environment.spec = spec
        environment.stop()
    running.mapping.enable()


def worker_drill(running: LocalStack, capsys, signal: str, faults: Faults) -> None:
    """Deploy the worker with `faults`, upload steadily until `signal` pages,
    check on-call sees it, deploy the healthy worker and wait for OK."""
    alarm = f"{running.names.prefix}-{signal}"
    until(running, alarm, "OK", 30)
    deployed = [environment.spec for environment in running.mapping.environments]
    deploy_worker(running, [dataclasses.replace(spec, environment={**spec.environment, **faults.to_env()})
                            for spec in deployed])
    # Steady traffic, as production has: uploads a little apart, each soon a batch of its own.
    to_alarm = upload_until_alarm(running, alarm, signal, gap_s=0.4)
    assert pages(running, alarm).count("ALARM") == 1
    code, status = ops(capsys, running.stack_file, "status")
    assert code == 1 and alarm in [a["name"] for a in status["alarms"]]
    _, listed = ops(capsys, running.stack_file, "alarms", "--state", "ALARM")
    [firing] = [a for a in listed if a["name"] == alarm]
    assert firing["lastValue"] >= firing["threshold"]

    rolled_back = time.monotonic()
    deploy_worker(running, deployed)
    until(running, alarm, "OK", 90)
    assert pages(running, alarm)[-2:] == ["ALARM", "OK"] and pages(running, alarm).count("ALARM") == 1
    report(alarm, to_alarm, round(time.monotonic() - rolled_back, 1))


def test_a_crashing_worker_pages_worker_errors_and_a_healthy_deploy_clears_it(running, capsys):
    # A deploy whose worker dies mid-invocation, every time.
    worker_drill(running, capsys, "worker-errors", Faults(crash=1.0))


def test_a_slow_worker_pages_worker_duration_and_a_healthy_deploy_clears_it(running, capsys):
    # Every S3 and DynamoDB call waits: invocations run into their timeout, for three periods.
    worker_drill(running, capsys, "worker-duration", Faults(latency_s=0.3))


def test_dynamodb_throttling_pages_table_throttles_and_a_healthy_deploy_clears_it(running, capsys):
    # DynamoDB throttles every request of the worker (the fault answers in DynamoDB's place).
    worker_drill(running, capsys, "table-throttles", Faults(dynamodb_throttle=1.0))


def test_a_reserved_concurrency_below_the_mappings_pages_worker_throttles_and_restoring_it_clears_it(running, capsys):
    alarm = running.names.prefix + "-worker-throttles"
    until(running, alarm, "OK", 30)
    mapping = running.mapping
    reserved = mapping.reserved_concurrency
    # As `PutFunctionConcurrency` setting 1 under a mapping that runs 2 batches at once.
    mapping.set_reserved_concurrency(1)
    try:
        to_alarm = upload_until_alarm(running, alarm, "throttled", gap_s=0.2)
        assert pages(running, alarm).count("ALARM") == 1
        code, status = ops(capsys, running.stack_file, "status")
        assert code == 1 and alarm in [a["name"] for a in status["alarms"]]
    finally:
        restored = time.monotonic()
        mapping.set_reserved_concurrency(reserved)
    until(running, alarm, "OK", 90)
    assert pages(running, alarm)[-2:] == ["ALARM", "OK"] and pages(running, alarm).count("ALARM") == 1
    report(alarm, to_alarm, round(time.monotonic() - restored, 1))


@pytest.fixture(scope="module")
def scanning(tmp_path_factory):
    if not clamd_installed():
        pytest.skip("clamd is not installed (apt-get install clamav-daemon)")
    with LocalStack(state_dir=tmp_path_factory.mktemp("scan-alarms"), ingest=FAST, alarm_clock_scale=SCALE,
                    malware_scan=True) as stack:
        yield stack


def failed_scans_logged(running: LocalStack) -> dict[str, set[str]]:
    """The runbook's log search: file ids whose scan the worker recorded failed, by owner."""
    found: dict[str, set[str]] = {}
    for line in (running.log_dir / "ingest.log").read_text().splitlines():
        try:
            entry = json.loads(line[line.find("{"):])
        except ValueError:
            continue
        if entry.get("message") == "Recorded a scan result" and entry.get("scan") == "failed":
            found.setdefault(entry["ownerId"], set()).add(entry["fileId"])
    return found


def test_a_dead_scanner_pages_scans_failed_and_rescanning_once_it_is_back_clears_it(scanning, capsys):
    alarm = scanning.names.prefix + "-scans-failed"
    until(scanning, alarm, "OK", 30)
    # clamd dies: the emulator's scans end FAILED, which GuardDuty reports for
    # a scan it could not complete ("Monitoring S3 object scans in Malware Protection for S3").
    scanning._clamd._process.kill()
    s3, bucket = scanning.client("s3"), scanning.outputs["bucketName"]
    keys = [f"incoming/ida/scan-{n}/notes.txt" for n in range(2)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"notes")
    to_alarm = until(scanning, alarm, "ALARM", 60)
    assert pages(scanning, alarm)[-1:] == ["ALARM"] and pages(scanning, alarm).count("ALARM") == 1

    code, status = ops(capsys, scanning.stack_file, "status")
    assert code == 1 and alarm in [a["name"] for a in status["alarms"]]
    _, listed = ops(capsys, scanning.stack_file, "alarms", "--state", "ALARM")
    [firing] = [a for a in listed if a["name"] == alarm]
    assert firing["lastValue"] >= 1 and firing["runbook"] == "docs/runbooks.md#scans-failed"
    failed = failed_scans_logged(scanning)
    assert failed == {"ida": {"scan-0", "scan-1"}}

    fixed = time.monotonic()
    scanning._clamd.start()
    code, rescanned = ops(capsys, scanning.stack_file, "rescan", "--owner", "ida", *sorted(failed["ida"]))
    assert code == 0 and [r["result"] for r in rescanned] == ["sent", "sent"]
    table = Stack.from_file(scanning.stack_file).table()
    wait_for(lambda: all(scan_of(get(table, "ida", file_id) or {})["status"] == "clean" for file_id in failed["ida"]),
             30, 0.25)
    until(scanning, alarm, "OK", 60)
    assert pages(scanning, alarm)[-2:] == ["ALARM", "OK"] and pages(scanning, alarm).count("ALARM") == 1
    report(alarm, to_alarm, round(time.monotonic() - fixed, 1))


def waited_since(running: LocalStack, owner: str, file_id: str, since: datetime) -> None:
    """As if the file had waited for its scan since `since`: the bound is
    GuardDuty's 15-minute allowance and more, which a drill does not sit out."""
    credentials = running.credentials()
    table = boto3.resource("dynamodb", endpoint_url=running.outputs["awsEndpointUrl"], region_name=REGION,
                           aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"]).Table(running.names.table)
    table.update_item(Key=key_of(owner, file_id), UpdateExpression="SET #sk = :sk",
                      ExpressionAttributeNames={"#sk": SCAN_INDEX_SORT_KEY},
                      ExpressionAttributeValues={":sk": scan_pending_sk(iso(since), file_id)})


def test_a_guardduty_outage_pages_scans_stuck_and_rescanning_once_it_is_over_clears_it(scanning, capsys):
    alarm = scanning.names.prefix + "-scans-stuck"
    until(scanning, alarm, "OK", 30)
    table = Stack.from_file(scanning.stack_file).table()
    files = ["stuck-0", "stuck-1"]
    scanning._malware_protection.outage()
    try:
        s3, bucket = scanning.client("s3"), scanning.outputs["bucketName"]
        for file_id in files:
            s3.put_object(Bucket=bucket, Key=f"incoming/ida/{file_id}/notes.txt", Body=b"notes")
        wait_for(lambda: all((get(table, "ida", file_id) or {}).get("status") == "processed" for file_id in files),
                 30, 0.25)
        for file_id in files:
            waited_since(scanning, "ida", file_id, datetime.now(UTC) - timedelta(hours=2))
        to_alarm = until(scanning, alarm, "ALARM", 60)
        assert pages(scanning, alarm)[-1:] == ["ALARM"] and pages(scanning, alarm).count("ALARM") == 1

        code, status = ops(capsys, scanning.stack_file, "status")
        assert code == 1 and alarm in [a["name"] for a in status["alarms"]]
        assert status["scanStuck"]["count"] == 2
        _, stuck = ops(capsys, scanning.stack_file, "stuck", "--scan")
        assert sorted(item["fileId"] for item in stuck) == files
    finally:
        scanning._malware_protection.outage(False)
    fixed = time.monotonic()
    code, rescanned = ops(capsys, scanning.stack_file, "rescan", "--stuck")
    assert code == 0 and sorted((r["fileId"], r["result"]) for r in rescanned) == [(f, "sent") for f in files]
    wait_for(lambda: all(scan_of(get(table, "ida", file_id) or {})["status"] == "clean" for file_id in files),
             30, 0.25)
    until(scanning, alarm, "OK", 60)
    assert pages(scanning, alarm)[-2:] == ["ALARM", "OK"] and pages(scanning, alarm).count("ALARM") == 1
    report(alarm, to_alarm, round(time.monotonic() - fixed, 1))


@pytest.fixture(scope="module")
def delivering(tmp_path_factory):
    receiver = Receiver()
    receiver.start()
    stack = LocalStack(state_dir=tmp_path_factory.mktemp("webhook-alarms"), ingest=FAST, alarm_clock_scale=SCALE)
    stack.webhooks = (stack.webhook("integration", receiver.url),)
    with stack:
        yield stack, receiver
    receiver.stop()


def test_a_receiver_down_past_its_retries_pages_webhooks_dead_lettered_and_a_redrive_clears_it(delivering, capsys):
    running, receiver = delivering
    alarm = running.names.prefix + "-webhooks-dead-lettered"
    until(running, alarm, "OK", 30)
    receiver.down = True
    sent = put_event(running)
    # Five attempts 1, 2, 4 and 4 s apart (LOCAL_DELIVERY), then the DLQ.
    to_alarm = until(running, alarm, "ALARM", 90)
    assert pages(running, alarm)[-1:] == ["ALARM"] and pages(running, alarm).count("ALARM") == 1

    code, listed = ops(capsys, running.stack_file, "alarms", "--state", "ALARM")
    assert code == 1 and (alarm, "docs/runbooks.md#webhooks-dead-lettered") in [
        (a["name"], a["runbook"]) for a in listed]
    code, shown = ops(capsys, running.stack_file, "webhooks")
    [row] = shown["endpoints"]
    assert code == 1 and row["endpoint"] == "integration" and row["deadEvents"] == [sent["eventId"]]
    assert receiver.requests == []

    # The runbook's fix: the receiver back, then the redrive.
    receiver.down = False
    fixed = time.monotonic()
    code, moved = ops(capsys, running.stack_file, "webhooks", "redrive", "--endpoint", "integration")
    assert (code, moved["moved"]) == (0, 1)
    wait_for(lambda: [r["headers"]["webhook-id"] for r in receiver.requests] == [sent["eventId"]], 20)
    until(running, alarm, "OK", 60)
    back = round(time.monotonic() - fixed, 1)
    assert pages(running, alarm)[-2:] == ["ALARM", "OK"] and pages(running, alarm).count("ALARM") == 1
    # The delivery's metric reaches CloudWatch when the function's log is next read, not with the POST.
    def endpoint() -> dict:
        [row] = ops(capsys, running.stack_file, "webhooks")[1]["endpoints"]
        return row
    wait_for(lambda: endpoint()["delivered"] >= 1, 20)
    # Its attempts while the receiver was down failed: one delivery, counted once.
    assert (endpoint()["delivered"], endpoint()["deadLettered"]) == (1, 0)
    report(alarm, to_alarm, back)
