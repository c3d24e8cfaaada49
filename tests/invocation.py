"""What Lambda hands the worker's code, for tests that call below the handler:
the deadline of a fresh invocation, and extraction in this process with the
client the worker would choose for it."""

from __future__ import annotations

import time

from contract.ingest import INGEST
from workers.extraction import Extraction, StoredObject, pipeline
from workers.storage import clients


def deadline() -> float:
    """`not_after` as the handler computes it at the start of an invocation."""
    return time.monotonic() + INGEST.worker_timeout_s


def extract(obj: StoredObject) -> Extraction:
    not_after = deadline()
    return pipeline.extract(obj, not_after, clients.ranged_reader(not_after))
