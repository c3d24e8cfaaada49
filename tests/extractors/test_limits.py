import time

import pytest

from workers.errors import FileRejected, OutOfTime
from workers.extractors.limits import Deadline


def test_a_spent_budget_rejects_the_file_as_too_large():
    deadline = Deadline(0.0)
    time.sleep(0.001)
    with pytest.raises(FileRejected) as rejected:
        deadline.check()
    assert rejected.value.code == "too_large"


def test_an_invocation_limit_before_the_budget_is_the_batchs_problem_not_the_files():
    deadline = Deadline(60.0, not_after=time.monotonic())
    time.sleep(0.001)
    assert deadline.cut
    with pytest.raises(OutOfTime):
        deadline.check()


def test_an_invocation_limit_after_the_budget_changes_nothing():
    deadline = Deadline(0.0, not_after=time.monotonic() + 60)
    time.sleep(0.001)
    assert not deadline.cut
    with pytest.raises(FileRejected):
        deadline.check()
