"""The soak harness at a small scale, in `make test`: through throttles, 500s,
read timeouts, crashed environments, repeated and shuffled deliveries, no file
is lost, none is recorded twice, every record describes its object's current
version, the DLQ holds the poison and nothing else, and an integration's
webhook endpoint receives every recorded outcome, each under one event id
with one content and a valid signature."""

import dataclasses

import pytest

from bench import soak

UPLOADS = 50
# A shorter worker clock than `make soak`'s, for a fifth as many uploads: the
# poison's five receives (6 x timeout + window apart) set this test's length.
INGEST = dataclasses.replace(soak.INGEST, worker_timeout_s=4)
# The drain gives up well before pytest-timeout would, so a file that never
# ends is reported by name (`lost`) instead of hidden behind a timeout.
DRAIN_DEADLINE_S = 240
# On the emulated queue clocks: `make test` runs it alone, after the rest.
pytestmark = [pytest.mark.clocks, pytest.mark.timeout(DRAIN_DEADLINE_S + 180)]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return soak.run(UPLOADS, deadline_s=DRAIN_DEADLINE_S, state_dir=tmp_path_factory.mktemp("soak"), ingest=INGEST)


def test_every_upload_reaches_the_stack(report):
    assert report["upload_errors"] == []
    assert report["uploads"] == UPLOADS


def test_the_faults_really_happened(report):
    # Crashes are left out: at 5% of about a hundred writes, a run without one
    # is rare but possible.
    assert report["faults_injected"].get("throttle", 0) > 0
    assert report["faults_injected"].get("server_error", 0) > 0
    assert report["mapping"]["redelivered"] > 0


def test_no_file_is_lost(report):
    assert report["lost"] == [], report["lost_records"]


def test_no_file_is_recorded_twice(report):
    assert report["duplicated"] == []


def test_every_record_describes_its_objects_current_version(report):
    assert report["disagreeing"] == []


def test_hostile_files_fail_with_their_code_and_the_rest_are_processed(report):
    assert report["misjudged"] == []
    assert report["processed"] + sum(report["failed"].values()) == UPLOADS


def test_the_dlq_holds_exactly_the_poison(report):
    dlq = report["dlq"]
    assert dlq["not_poison"] == []
    assert dlq["poison_in_dlq"] == dlq["dlq_messages"] == dlq["poison_sent"]


def test_on_call_is_paged_for_the_poison_and_for_nothing_its_faults_do_not_explain(report):
    fired = {alarm["alarm"] for alarm in report["alarms_fired"]}
    assert "dlq-messages" in fired
    # Throttles, 500s and crashes fail invocations and throttle the table, and the
    # hostile files fail: every other alarm would be a false page.
    assert fired <= {"dlq-messages", "worker-errors", "table-throttles", "files-failed"}


def test_a_webhook_receiver_gets_every_recorded_outcome_under_one_id_signed_and_nothing_else(report):
    events = report["events"]
    assert events["missing"] == []
    assert events["duplicated_ids"] == []
    assert events["conflicting_ids"] == []
    assert events["unexpected"] == []
    assert events["invalid_signatures"] == 0
    assert events["received"] == events["recorded"]
    for kind, counts in events["by_type"].items():
        assert counts["received"] == counts["recorded"] and counts["missing"] == 0, kind
        assert counts["conflicting_ids"] == 0, kind
    # Every file was told at least uploaded and then processed or failed.
    told = events["received"]
    assert told["File Uploaded"] >= UPLOADS
    assert told.get("File Processed", 0) + told.get("File Failed", 0) >= UPLOADS
    # Every delivery was acknowledged: none left queued, none given up on.
    assert report["webhooks"]["queue_left"] == report["webhooks"]["dead_lettered"] == 0
