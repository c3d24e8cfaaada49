"""The on-call CLI drilled on running local stacks, through the incidents the
runbooks describe: each drill creates the state, runs the commands on-call
would type, and checks the effect on the queues and the table."""

import os
import subprocess
import sys
from datetime import timedelta

import boto3
import pytest

from contract.ingest import INGEST
from contract.keys import FileKey
from contract.quotas import QUOTAS
from contract.table import QUARANTINE_CODE
from local.stack import LocalStack
from ops import dlq, replay
from ops.__main__ import build_parser, main
from ops.outputs import Stack
from tests.local.stack_helpers import FAST, file_status, wait_for
from tests.ops.drill import as_deployer, created_event, failed, ops, pending, stored_before_quotas
from workers.storage import ingest_records, records, usage
from workers.storage.dynamo import now

# On the emulated queue clocks: `make test` runs these alone, after the rest.
pytestmark = pytest.mark.clocks


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("ops"), moto_port=0, ingest=FAST) as stack:
        yield stack


@pytest.fixture
def stack(running):
    """What a drill sets up and checks, as the deployer."""
    return as_deployer(running)


@pytest.fixture
def oncall(running):
    """The stack as the ops CLI reads it: the on-call operator's credentials."""
    return Stack.from_file(running.stack_file)


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    """A stack whose event source mapping is disabled: what the test puts in
    the queues stays there, so counts are exact."""
    with LocalStack(state_dir=tmp_path_factory.mktemp("quiet"), moto_port=0, ingest=FAST) as stack:
        stack.mapping.disable()
        # Whatever a poll had gathered before the mapping stopped (the bucket's
        # s3:TestEvent) returns after its visibility timeout, and goes.
        sqs, url = stack.client("sqs"), Stack.from_file(stack.stack_file).outputs.queue_url
        wait_for(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
                 ["ApproximateNumberOfMessagesNotVisible"] == "0", 30)
        sqs.purge_queue(QueueUrl=url)
        yield stack


def depth(stack: Stack, output: str) -> dict:
    return dlq.depth(stack.client("sqs"), getattr(stack.outputs, output))


# --- Drills on a working stack ------------------------------------------------------


def test_the_cli_works_beside_the_local_stack_with_no_aws_variables(running, tmp_path):
    clean = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    clean.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
                 AWS_EC2_METADATA_DISABLED="true")
    shell = subprocess.run([sys.executable, "-m", "ops", "--stack-file", str(running.stack_file), "status"],
                           env=clean, capture_output=True, text=True, timeout=60)
    assert shell.returncode in (0, 1), shell.stderr
    assert "queue" in shell.stdout and "Credentials" not in shell.stderr


def test_a_poison_message_is_peeked_then_redriven_once_fixed_and_processed(stack, oncall, running, capsys):
    key = "incoming/dave/poison-1/report.txt"
    pending(stack, key)
    # What a bad migration could leave: an attempt count that is not a number.
    # Every delivery fails on it until the message is dead-lettered.
    stack.table().update_item(Key=records.key_of("dave", "poison-1"), UpdateExpression="SET attempts = :bad",
                              ExpressionAttributeValues={":bad": "broken"})
    stack.client("s3").put_object(Bucket=stack.outputs.bucket_name, Key=key, Body=b"report")
    wait_for(lambda: depth(stack, "dead_letter_queue_url")["visible"] == 1, 120, interval_s=1)

    code, peeked = ops(capsys, running.stack_file, "dlq", "peek")
    assert code == 0 and len(peeked) == 1
    [message] = peeked
    assert message["files"] == [{"event": "ObjectCreated:Put", "bucket": stack.outputs.bucket_name, "key": key,
                                 "ownerId": "dave", "fileId": "poison-1"}]
    assert message["receiveCount"] >= 1 and message["firstReceivedAt"] and message["bodyBytes"] > 0
    assert len(dlq.peek(oncall)) == 1, "peeking consumes nothing"
    assert file_status(stack, "dave", "poison-1") == "pending"

    stack.table().update_item(Key=records.key_of("dave", "poison-1"), UpdateExpression="REMOVE attempts")
    code, result = ops(capsys, running.stack_file, "dlq", "redrive")
    assert code == 0 and result["moved"] == 1
    wait_for(lambda: file_status(stack, "dave", "poison-1") == "processed", 30)
    assert depth(stack, "dead_letter_queue_url")["visible"] == 0


def test_a_quarantined_file_shows_in_status_and_is_processed_by_replay_quarantined(stack, running, capsys):
    key = "incoming/erin/hostile-1/notes.txt"
    file_key = pending(stack, key)
    # Each time, the worker died with the file and the message came back: the
    # starts were counted and never finished. The next delivery quarantines it.
    for _ in range(INGEST.quarantine_after_starts):
        ingest_records.ExtractionStart(stack.table(), file_key, "01".ljust(64, "0"), recorded=True).count()
    stack.client("s3").put_object(Bucket=stack.outputs.bucket_name, Key=key, Body=b"notes\n")
    wait_for(lambda: file_status(stack, "erin", "hostile-1") == "failed", 30)

    code, report = ops(capsys, running.stack_file, "status")
    assert code == 1 and any("quarantined" in reason for reason in report["needsAttention"])
    assert [f["fileId"] for f in report["quarantined"]["files"]] == ["hostile-1"]
    assert report["failedLastHour"][QUARANTINE_CODE] == 1
    code, listed = ops(capsys, running.stack_file, "quarantined")
    assert [(i["fileId"], i["error"]["code"]) for i in listed] == [("hostile-1", QUARANTINE_CODE)]

    # The cause (the worker dying) is fixed; the file itself was never at fault.
    code, results = ops(capsys, running.stack_file, "replay", "--quarantined")
    assert code == 0 and results == [{"ownerId": "erin", "fileId": "hostile-1", "result": "replayed"}]
    wait_for(lambda: file_status(stack, "erin", "hostile-1") == "processed", 30)
    assert ops(capsys, running.stack_file, "quarantined")[1] == []


def test_a_pending_file_whose_event_was_dropped_is_found_by_stuck_and_fixed_by_replay(stack, running, capsys):
    s3, bucket = stack.client("s3"), stack.outputs.bucket_name
    pending(stack, "incoming/fay/lost-1/a.txt", at=now() - timedelta(minutes=20))
    pending(stack, "incoming/fay/fresh-1/b.txt")
    notifications = {k: v for k, v in s3.get_bucket_notification_configuration(Bucket=bucket).items()
                     if k != "ResponseMetadata"}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        s3.put_object(Bucket=bucket, Key="incoming/fay/lost-1/a.txt", Body=b"a")
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notifications)

    pending(stack, "incoming/fay/unused-1/c.txt", at=now() - timedelta(minutes=25))
    code, stuck = ops(capsys, running.stack_file, "stuck", "--older-than", "15m")
    assert code == 0 and [(i["fileId"], i["uploaded"]) for i in stuck] == [("lost-1", True), ("unused-1", False)]
    code, report = ops(capsys, running.stack_file, "status")
    assert [f["fileId"] for f in report["stuck"]["files"]] == ["lost-1"] and report["stuck"]["neverUploaded"] == 1
    code, results = ops(capsys, running.stack_file, "replay", "--stuck", "--older-than", "15m")
    assert results == [{"ownerId": "fay", "fileId": "lost-1", "result": "replayed"},
                       {"ownerId": "fay", "fileId": "unused-1",
                        "result": "no object yet: the upload was never finished"}]
    wait_for(lambda: file_status(stack, "fay", "lost-1") == "processed", 30)
    assert [i["fileId"] for i in ops(capsys, running.stack_file, "stuck")[1]] == ["unused-1"]


def test_failed_lists_by_code_owner_and_age_from_the_index_never_a_scan(stack, running, capsys):
    failed(stack, "gus", "f-1", "corrupt")
    failed(stack, "gus", "f-2", "object_missing")
    failed(stack, "gus", "f-3", "corrupt", ago=timedelta(hours=3))
    failed(stack, "hal", "f-4", "corrupt")

    def listed(*argv: str) -> list[str]:
        return [i["fileId"] for i in ops(capsys, running.stack_file, "failed", *argv)[1]]

    calls: list[str] = []
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        assert listed("--owner", "gus") == ["f-2", "f-1", "f-3"]
        assert listed("--owner", "gus", "--code", "corrupt") == ["f-1", "f-3"]
        assert listed("--owner", "gus", "--since", "1h") == ["f-2", "f-1"]
        assert listed("--code", "corrupt", "--since", "1h", "-n", "1") == ["f-4"]
        ops(capsys, running.stack_file, "stuck")
        ops(capsys, running.stack_file, "quarantined")
        ops(capsys, running.stack_file, "status")
    finally:
        boto3.DEFAULT_SESSION = None
    assert calls and set(calls) == {"Query"}, "the attention index is queried, never scanned"


def test_a_failed_file_whose_object_is_gone_cannot_be_replayed(stack, oncall, running, capsys):
    key = "incoming/carol/late-1/data.txt"
    # The notification outran the object (or the object is gone): object_missing.
    stack.client("sqs").send_message(QueueUrl=stack.outputs.queue_url, MessageBody=created_event(stack, key))
    wait_for(lambda: file_status(stack, "carol", "late-1") == "failed", 15)
    code, listed = ops(capsys, running.stack_file, "failed", "--owner", "carol", "--code", "object_missing")
    assert [i["fileId"] for i in listed] == ["late-1"]
    assert replay.replay_file(oncall, "carol", "late-1") == "object gone: nothing to replay"
    assert replay.replay_file(oncall, "carol", "no-such-file") == "no such file"


def test_replay_failed_runs_a_code_through_the_pipeline_again(stack, running, capsys):
    key = "incoming/carol/bug-1/data.txt"
    stack.client("s3").put_object(Bucket=stack.outputs.bucket_name, Key=key, Body=b"fine data")
    wait_for(lambda: file_status(stack, "carol", "bug-1") == "processed", 15)
    before = records.get(stack.table(), "carol", "bug-1")
    # What a since-fixed extractor bug would have left behind.
    stack.table().update_item(
        Key=records.key_of("carol", "bug-1"),
        UpdateExpression="SET #s = :failed, #e = :error, gsi2pk = :pk, gsi2sk = :sk",
        ExpressionAttributeNames={"#s": "status", "#e": "error"},
        ExpressionAttributeValues={":failed": "failed", ":error": {"code": "extractor_bug", "message": "bug"},
                                   ":pk": "STATUS#failed", ":sk": before["updatedAt"] + "#bug-1"},
    )
    code, results = ops(capsys, running.stack_file, "replay", "--failed", "--code", "extractor_bug")
    assert code == 0 and results == [{"ownerId": "carol", "fileId": "bug-1", "result": "replayed"}]
    wait_for(lambda: file_status(stack, "carol", "bug-1") == "processed", 15)
    after = records.get(stack.table(), "carol", "bug-1")
    assert after["versionId"] != before["versionId"] and after["error"] is None


# --- Exact numbers on a stack that processes nothing -----------------------------------


def test_status_of_an_idle_stack_is_healthy(quiet, capsys):
    code, report = ops(capsys, quiet.stack_file, "status")
    assert code == 0 and report["needsAttention"] == []
    assert main(["--stack-file", str(quiet.stack_file), "status"]) == 0
    assert "OK: nothing needs attention" in capsys.readouterr().out


def test_status_numbers_match_the_queues_and_table_the_test_created(quiet, capsys):
    stack = as_deployer(quiet)
    sqs = stack.client("sqs")
    for n in range(3):
        sqs.send_message(QueueUrl=stack.outputs.queue_url,
                         MessageBody=created_event(stack, f"incoming/ida/q-{n}/f.txt"))
    for n in range(2):
        sqs.send_message(QueueUrl=stack.outputs.dead_letter_queue_url, MessageBody=f"poison {n}")
    failed(stack, "ida", "c-1", "corrupt")
    failed(stack, "ida", "c-2", "corrupt", ago=timedelta(minutes=50))
    failed(stack, "ida", "m-1", "object_missing")
    failed(stack, "ida", "old-1", "corrupt", ago=timedelta(hours=2))
    failed(stack, "ida", "x-1", QUARANTINE_CODE, ago=timedelta(hours=5))
    for n in range(2):
        # Uploaded, and its event waits in the backlog: stuck.
        pending(stack, f"incoming/ida/stuck-{n}/f.txt", at=now() - timedelta(minutes=16 + n))
        stack.client("s3").put_object(Bucket=stack.outputs.bucket_name, Key=f"incoming/ida/stuck-{n}/f.txt", Body=b"f")
    pending(stack, "incoming/ida/unused-1/f.txt", at=now() - timedelta(minutes=30))
    pending(stack, "incoming/ida/new-1/f.txt", at=now() - timedelta(minutes=5))
    # The stack's own alarm, as its two dead letters make it fire (tests/local/test_alarm_drills.py drills that).
    stack.client("cloudwatch").set_alarm_state(AlarmName="uploads-local-dlq-messages", StateValue="ALARM",
                                               StateReason="drill")

    code, report = ops(capsys, quiet.stack_file, "status")
    assert code == 1
    # The oldest message's age is published once a minute, so it may not be here yet.
    assert {k: v for k, v in report["queue"].items() if k != "oldestAgeSeconds"} == {
        "visible": 5, "inFlight": 0, "delayed": 0}
    assert report["deadLetterQueue"] == {"visible": 2, "inFlight": 0, "delayed": 0}
    assert report["failedLastHour"] == {"corrupt": 2, "object_missing": 1}
    assert report["stuck"]["count"] == 2 and report["stuck"]["neverUploaded"] == 1
    assert report["stuck"]["pending"] == report["stuck"]["checked"] == 3
    assert {f["fileId"] for f in report["stuck"]["files"]} == {"stuck-0", "stuck-1"}
    assert report["quarantined"]["count"] == 1 and report["quarantined"]["files"][0]["fileId"] == "x-1"
    assert [(a["name"], a["runbook"]) for a in report["alarms"]] == [
        ("uploads-local-dlq-messages", "docs/runbooks.md#dlq-messages")]
    assert code == main(["--stack-file", str(quiet.stack_file), "status", "--stuck-after", "20m"]) == 1
    screen = capsys.readouterr().out
    assert "NEEDS ATTENTION" in screen and "uploads-local-dlq-messages" in screen and "corrupt 2" in screen


def test_a_dry_run_moves_nothing_and_max_bounds_a_redrive(quiet, capsys):
    stack = as_deployer(quiet)
    queued, dead = depth(stack, "queue_url")["visible"], depth(stack, "dead_letter_queue_url")["visible"]
    code, result = ops(capsys, quiet.stack_file, "dlq", "redrive", "--dry-run")
    assert code == 0 and result == {"moved": dead, "method": "dry-run", "waiting": dead}
    assert depth(stack, "dead_letter_queue_url")["visible"] == dead
    code, result = ops(capsys, quiet.stack_file, "dlq", "redrive", "--max", "1")
    assert result["moved"] == 1 and result["method"] == "send-then-delete"
    assert depth(stack, "queue_url")["visible"] == queued + 1
    wait_for(lambda: depth(stack, "dead_letter_queue_url")["visible"] == dead - 1, 35)


def test_dlq_purge_without_yes_changes_nothing_and_with_it_says_how_many(quiet, capsys):
    stack = as_deployer(quiet)
    for n in range(2):
        stack.client("sqs").send_message(QueueUrl=stack.outputs.dead_letter_queue_url, MessageBody=f"evidence {n}")
    wait_for(lambda: depth(stack, "dead_letter_queue_url")["inFlight"] == 0, 35)
    before = depth(stack, "dead_letter_queue_url")["visible"]
    assert before >= 2
    assert main(["--stack-file", str(quiet.stack_file), "dlq", "purge"]) == 2
    assert "without --yes" in capsys.readouterr().err
    assert depth(stack, "dead_letter_queue_url")["visible"] == before
    code, result = ops(capsys, quiet.stack_file, "dlq", "purge", "--yes")
    assert code == 0 and result == {"removed": before}
    wait_for(lambda: depth(stack, "dead_letter_queue_url")["visible"] == 0, 5)


def test_usage_show_accounts_for_every_byte_and_backfill_charges_files_stored_before_quotas_once(stack, running,
                                                                                                 capsys):
    table, owner = stack.table(), "ivy"
    stored_before_quotas(stack, owner, "old-1", 7)
    for file_id, size in (("new-1", 10), ("gone-1", 5)):
        usage.reserve_ticket(table, FileKey(owner, file_id, "b.txt"), QUOTAS, reclaim_after=now(),
                             filename="b.txt", content_type="text/plain", size=size, upload={"method": "POST"},
                             at=now(), scanning=False)
    # TTL reaped this ticket's record before anyone reclaimed it.
    table.delete_item(Key=records.key_of(owner, "gone-1"))

    code, report = ops(capsys, running.stack_file, "usage", "show", owner)
    assert code == 0
    assert report["usage"] == report["records"] == {"bytes": 15, "files": 2}
    assert (report["openTickets"], report["ticketsWithoutRecord"], report["uncharged"]) == (2, 1, 1)

    code, result = ops(capsys, running.stack_file, "usage", "backfill")
    assert code == 0 and result["charged"] >= 1
    assert ops(capsys, running.stack_file, "usage", "backfill", "--owner", owner)[1]["charged"] == 0
    code, report = ops(capsys, running.stack_file, "usage", "show", owner)
    assert code == 0 and report["usage"] == {"bytes": 22, "files": 3} and report["uncharged"] == 0


# --- The CLI's surface ----------------------------------------------------------------


COMMANDS = [["status"], ["dlq", "peek"], ["dlq", "redrive"], ["dlq", "purge"], ["failed"], ["stuck"],
            ["quarantined"], ["replay", "--failed"], ["usage", "show", "OWNER"], ["usage", "backfill"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_takes_json_and_a_stack(command, capsys):
    with pytest.raises(SystemExit) as shown:
        build_parser().parse_args([*command, "--help"])
    assert shown.value.code == 0 and "--json" in capsys.readouterr().out
    args = build_parser().parse_args(["--stack", "prod", *command, "--json"])
    assert args.json and args.stack == "prod"


@pytest.mark.parametrize("argv", [["status", "--stuck-after", "soon"], ["dlq"], ["replay"],
                                  ["replay", "--stuck", "--code", "corrupt"],
                                  ["dlq", "peek", "-n", "0"], ["failed", "--since", "yesterday"], ["nonsense"]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2


def test_a_missing_stack_file_is_a_usage_error(tmp_path, capsys):
    assert main(["--stack-file", str(tmp_path / "stack.json"), "status"]) == 2
    assert "make dev" in capsys.readouterr().err
