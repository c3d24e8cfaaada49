import contextlib
import os
import threading
import time
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from contract import functions
from contract.functions import ENV_BUCKET_NAME, ENV_TABLE_NAME
from contract.keys import FileKey
from contract.names import Names
from contract.quotas import QUOTAS
from contract.scan import ENV_MALWARE_SCAN, SCAN_ON_VALUE
from local import provision
from local.runtime import FunctionSpec, LambdaContext
from tests.workers.s3_events import BUCKET
from workers.extraction import isolated, pool
from workers.extraction.limits import MiB
from workers.ingest import file_events
from workers.storage import clients, dynamo, records, usage

NAMES = Names("test")


def _moto_calls_and_forks_take_turns() -> None:
    """In-process moto takes locks of its own inside every call. The worker
    forks extraction children from several threads, and a child forked while
    another thread was inside a call would wait on that call's locks forever.
    Lambda's AWS lives in other processes, so only the tests need this: a fork
    waits for the moto call in progress, and moto calls run one at a time."""
    turn = threading.Lock()
    call = BotocoreStubber.__call__

    def in_turn(self, *args, **kwargs):
        with turn:
            return call(self, *args, **kwargs)

    BotocoreStubber.__call__ = in_turn
    os.register_at_fork(before=turn.acquire, after_in_parent=turn.release, after_in_child=turn.release)


_moto_calls_and_forks_take_turns()


@pytest.fixture(autouse=True)
def a_worker_forked_for_each_file(monkeypatch):
    """In-process moto keeps its objects in this process's memory: a worker
    forked before a test stored an object would never see it. So each file
    gets a worker forked when it is handed over, as Lambda's AWS (another
    process) makes unnecessary; tests/workers/test_pool.py covers reuse."""
    fresh = pool.Pool(max_files=1, max_private_bytes=isolated.WORKER_PRIVATE_MB * MiB)
    monkeypatch.setattr(isolated, "_POOL", fresh)
    yield
    fresh.close()


@contextlib.contextmanager
def stack_account(monkeypatch):
    """An in-process moto account holding the stack's bucket and table."""
    monkeypatch.setenv(ENV_TABLE_NAME, NAMES.table)
    monkeypatch.setenv(ENV_BUCKET_NAME, BUCKET)
    monkeypatch.setenv(ENV_MALWARE_SCAN, SCAN_ON_VALUE)
    with mock_aws():
        clients.reset()
        provision.create_table(boto3.client("dynamodb"), NAMES)
        provision.create_bucket(boto3.client("s3"), BUCKET, queue_arn=None)
        yield
    clients.reset()


@pytest.fixture
def aws(monkeypatch):
    with stack_account(monkeypatch):
        yield


@pytest.fixture
def on_aws_call():
    """`on_aws_call(event_name, handler)` registers a botocore handler on every
    client the worker makes from then on, on whichever of its threads."""
    registered = []

    def register(event_name: str, handler) -> None:
        boto3.DEFAULT_SESSION.events.register(event_name, handler)
        registered.append((event_name, handler))
        clients.reset()

    yield register
    for event_name, handler in registered:
        boto3.DEFAULT_SESSION.events.unregister(event_name, handler)
    clients.reset()


@pytest.fixture
def context():
    spec = FunctionSpec(name=NAMES.ingest_function, handler=functions.ingest_worker().handler, timeout_s=60,
                        memory_mb=1024, region="us-east-1")
    env = spec.lambda_environment()
    return LambdaContext(spec, env, "req-1", time.time() + 60)


def put(key: str, body: bytes = b"hello", content_type: str = "text/plain") -> dict:
    return clients.s3().put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)


def record(owner: str, file_id: str) -> dict | None:
    return records.get(clients.table(), owner, file_id)


def apply(event, seconds: float = 60) -> file_events.Outcome:
    """One S3 event, applied as the handler applies it, with `seconds` left to extract in."""
    return file_events.apply(event, time.monotonic() + seconds)


def ticketed(key: str, size: int = 100, upload: dict | None = None) -> None:
    """The pending record, ticket item and reservation the API writes when it issues an upload ticket."""
    file_key, at = FileKey.parse(key), dynamo.now()
    usage.reserve_ticket(clients.table(), file_key, QUOTAS, reclaim_after=at + timedelta(hours=1),
                         filename=file_key.name, content_type="text/plain", size=size,
                         upload=upload or {"method": "PUT"}, at=at, scanning=True)
