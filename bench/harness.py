"""What every figure needs: the local stack with the workers' environment in
this process, AWS calls slowed or counted by botocore event hooks on boto3's
default session (the mechanism local/faults.py uses), and the shape of a
figure in bench/results.json."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from contract.ingest import IngestSettings
from local.stack import LocalStack

MiB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    """How big each figure runs: the issue's sizes, or tiny ones for the test."""

    batch: int = 10
    object_bytes: int = 200 * MiB
    uploads: int = 100
    list_records: tuple[int, ...] = (1_000, 50_000)
    jpeg_pixels: tuple[int, int] = (4000, 3000)
    pdf_pages: int = 20
    csv_bytes: int = 10 * MiB
    zip_entries: int = 1_000
    parquet_columns: int = 50
    end_to_end_files: int = 200
    # One at a time on an idle stack, as a person uploads.
    idle_files: int = 20
    import_runs: int = 7


TINY = Sizes(batch=3, object_bytes=2 * MiB, uploads=4, list_records=(12, 40), jpeg_pixels=(64, 48), pdf_pages=2,
             csv_bytes=64 * 1024, zip_entries=10, parquet_columns=4, end_to_end_files=4, idle_files=3,
             import_runs=1)


def figure(value: Any, goal: str, met: bool | None, baseline: Any = None, **details: Any) -> dict[str, Any]:
    """One figure of bench/results.json; `met` is None where the goal is a trend to watch."""
    return {"value": value, "goal": goal, "baseline": baseline, "met": met, **details}


@contextlib.contextmanager
def stack(ingest: IngestSettings | None = None, worker_here: bool = True) -> Iterator[LocalStack]:
    """A local stack; with `worker_here`, its event source mapping is off and
    this process carries the functions' environment, so the bench invokes the
    handlers itself and sees every call they make."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as state, \
            LocalStack(state_dir=Path(state), moto_port=0, **({"ingest": ingest} if ingest else {})) as running:
        if worker_here:
            running.mapping.disable()
            os.environ.update(running.api_spec().lambda_environment())
            # Both handlers run here, so as the deployer rather than either role:
            # the bench measures calls; IAM is tests/iam/'s subject.
            os.environ.update(running.credentials())
            os.environ.update(AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(running.worker_spec().memory_mb),
                              POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true",
                              LOG_LEVEL="WARNING")
            _reset_clients()
        try:
            yield running
        finally:
            os.environ.clear()
            os.environ.update(saved)
            _reset_clients()


def _reset_clients() -> None:
    clients_made_afresh()
    boto3.DEFAULT_SESSION = None


def clients_made_afresh() -> None:
    """Clients made from now on see the environment as it is now, in this
    process and in the extraction workers: a worker keeps the environment
    variables and hooks it was forked with, so the ones forked before retire."""
    from workers.extraction import isolated
    from workers.storage import clients

    clients.reset()
    isolated._POOL.renew()


@contextlib.contextmanager
def on_every_call(event: str, handler) -> Iterator[None]:
    """`handler` on every botocore client made while this lasts, the extraction workers' too."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    events = boto3.DEFAULT_SESSION.events
    events.register_first(event, handler)
    clients_made_afresh()
    try:
        yield
    finally:
        events.unregister(event, handler)
        clients_made_afresh()


@contextlib.contextmanager
def latency(seconds: float) -> Iterator[None]:
    """Every AWS call waits `seconds` before it is sent, as a real network would make it."""
    def wait(**_) -> None:
        time.sleep(seconds)

    with on_every_call("before-send", wait):
        yield


class CallLog:
    """Counts AWS calls by service and operation, in this process and in the
    extraction children it forks (each appends one line to a shared file)."""

    def __init__(self) -> None:
        self._file = tempfile.NamedTemporaryFile("w+", prefix="bench-calls-", delete=False)
        self._file.close()
        self._path = self._file.name

    def note(self, event_name: str, **_) -> None:
        _, service, operation = event_name.split(".", 2)
        with open(self._path, "a") as log:
            log.write(f"{service}.{operation}\n")

    def take(self) -> Counter:
        """The calls since the last take."""
        with open(self._path, "r+") as log:
            counted = Counter(line.strip() for line in log if line.strip())
            log.truncate(0)
        return counted

    def close(self) -> None:
        os.unlink(self._path)


@contextlib.contextmanager
def counting() -> Iterator[CallLog]:
    log = CallLog()
    try:
        with on_every_call("after-call", log.note):
            yield log
    finally:
        log.close()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
