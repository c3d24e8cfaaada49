import contextlib
import time

import boto3
import pytest
from moto import mock_aws

from contract import functions
from local import provision
from local.runtime import FunctionSpec, LambdaContext
from workers.storage import clients, records

from contract.functions import ENV_BUCKET_NAME, ENV_TABLE_NAME
from contract.names import Names
from tests.workers.s3_events import BUCKET

NAMES = Names("test")


@contextlib.contextmanager
def stack_account(monkeypatch):
    """An in-process moto account holding the stack's bucket and table."""
    monkeypatch.setenv(ENV_TABLE_NAME, NAMES.table)
    monkeypatch.setenv(ENV_BUCKET_NAME, BUCKET)
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
def context():
    spec = FunctionSpec(name=NAMES.ingest_function, handler=functions.ingest_worker().handler, timeout_s=60,
                        memory_mb=1024, region="us-east-1")
    env = spec.lambda_environment()
    return LambdaContext(spec, env, "req-1", time.time() + 60)


def put(key: str, body: bytes = b"hello", content_type: str = "text/plain") -> dict:
    return clients.s3().put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)


def record(owner: str, file_id: str) -> dict | None:
    return records.get(clients.table(), owner, file_id)
