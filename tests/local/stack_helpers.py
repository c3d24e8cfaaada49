"""Shared by the tests that run a whole local stack."""

import time

from contract.ingest import IngestSettings
from contract.outputs import StackOutputs
from contract.table import PARTITION_KEY, SORT_KEY, file_sk, user_pk

# One-second clocks: a poison message exhausts its receives in about 35 s, and
# messages sent within a second of each other share a batch.
FAST = IngestSettings(worker_timeout_s=1, batching_window_s=1, receive_wait_s=1,
                      reserved_concurrency=2, maximum_concurrency=2)


def wait_for(predicate, timeout_s: float, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"not true within {timeout_s} s")


def file_status(stack, owner: str, file_id: str) -> str | None:
    """The record's status as a client sees it, from any stack (local.stack or ops Stack)."""
    outputs = stack.outputs if isinstance(stack.outputs, dict) else stack.outputs.as_dict()
    item = stack.client("dynamodb").get_item(
        TableName=outputs[StackOutputs.key("table_name")],
        Key={PARTITION_KEY: {"S": user_pk(owner)}, SORT_KEY: {"S": file_sk(file_id)}},
        ConsistentRead=True,
    ).get("Item", {})
    # moto applies an UpdateItem field by field; a concurrent read can see it half done.
    return item.get("status", {}).get("S")
