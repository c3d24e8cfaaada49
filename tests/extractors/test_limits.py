import time

import pytest

from tests.invocation import extract
from workers.errors import FileRejected, OutOfTime
from workers.extraction.limits import Deadline


def test_a_spent_budget_rejects_the_file_as_too_large():
    deadline = Deadline(0.0, time.monotonic() + 60)
    time.sleep(0.001)
    with pytest.raises(FileRejected) as rejected:
        deadline.check()
    assert rejected.value.code == "too_large"


def test_an_invocation_limit_before_the_budget_is_the_batchs_problem_not_the_files():
    deadline = Deadline(60.0, time.monotonic())
    time.sleep(0.001)
    with pytest.raises(OutOfTime):
        deadline.check()


def test_an_invocation_limit_after_the_budget_changes_nothing():
    deadline = Deadline(0.0, time.monotonic() + 60)
    time.sleep(0.001)
    with pytest.raises(FileRejected):
        deadline.check()


def test_time_spent_waiting_on_s3_does_not_count_against_the_file():
    deadline = Deadline(0.05, time.monotonic() + 60)
    waiting_since = time.monotonic()
    time.sleep(0.1)
    deadline.exclude(time.monotonic() - waiting_since)
    deadline.check()


def test_waiting_on_s3_past_the_invocation_limit_is_out_of_time():
    deadline = Deadline(0.05, time.monotonic() + 0.02)
    time.sleep(0.05)
    deadline.exclude(0.05)
    with pytest.raises(OutOfTime):
        deadline.check()


def test_a_resized_budget_keeps_the_time_already_spent():
    deadline = Deadline(60.0, time.monotonic() + 60)
    time.sleep(0.02)
    with pytest.raises(FileRejected):
        deadline.resized(0.01).check()


def test_time_spent_sniffing_counts_against_the_files_budget(store, monkeypatch):
    from workers.extraction import limits
    from workers.extraction import pipeline as extractors

    real_sniff = extractors.sniff

    def slow_sniff(*args, **kwargs):
        time.sleep(0.3)
        return real_sniff(*args, **kwargs)

    monkeypatch.setattr(extractors, "sniff", slow_sniff)
    monkeypatch.setattr(limits, "EXTRACT_SECONDS", 0.2)
    with pytest.raises(FileRejected) as rejected:
        extract(store(b"plain words\n" * 10, "text/plain"))
    assert rejected.value.code == "too_large"


def test_the_cpu_a_file_may_spend_leaves_a_full_batch_inside_the_timeout_at_the_deployed_memory():
    from contract.ingest import INGEST
    from workers.extraction import isolated

    vcpus = INGEST.worker_memory_mb / 1769
    worst_batch_s = INGEST.batch_size * isolated.file_limits().cpu_seconds / vcpus
    assert worst_batch_s <= 0.8 * INGEST.worker_timeout_s
