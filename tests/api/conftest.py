"""The API handler against moto in-process, called with payload 2.0 events."""

from __future__ import annotations

import json
import secrets

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from contract.functions import ENV_BUCKET_NAME, ENV_CURSOR_SECRET_PARAMETER, ENV_TABLE_NAME
from contract.names import Names
from contract.quotas import QUOTAS
from contract.scan import ENV_MALWARE_SCAN, SCAN_OFF_VALUE
from local import provision
from local.gateway import api_event
from local.runtime import ACCOUNT_ID
from tests.uploading import sha256_b64  # noqa: F401 - the API tests' checksums
from workers.api import quota
from workers.storage import clients

NAMES = Names("test")
BUCKET = NAMES.upload_bucket(ACCOUNT_ID)
REGION = "us-east-1"
ALICE = "11111111-aaaa-4aaa-8aaa-111111111111"
BOB = "22222222-bbbb-4bbb-8bbb-222222222222"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": NAMES.api_function,
        ENV_TABLE_NAME: NAMES.table,
        ENV_BUCKET_NAME: BUCKET,
        ENV_MALWARE_SCAN: SCAN_OFF_VALUE,
        ENV_CURSOR_SECRET_PARAMETER: NAMES.cursor_secret_parameter,
        "POWERTOOLS_TRACE_DISABLED": "true",
        **QUOTAS.variables(),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        clients.reset()
        parameters.clear_caches()
        quota.limits.cache_clear()
        import boto3

        provision.create_table(boto3.client("dynamodb"), NAMES)
        provision.create_bucket(boto3.client("s3"), BUCKET, None)
        boto3.client("ssm").put_parameter(
            Name=NAMES.cursor_secret_parameter, Value=secrets.token_hex(32), Type="SecureString"
        )
        yield
        clients.reset()
        parameters.clear_caches()
        quota.limits.cache_clear()


class Context:
    function_name = NAMES.api_function
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{NAMES.api_function}"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


class Caller:
    """Calls the handler as API Gateway would for one signed-in user."""

    def __init__(self, sub: str) -> None:
        self.sub = sub

    def __call__(self, method: str, path: str, body=None, query: str = "", headers: dict | None = None):
        response = self.respond(method, path, body, query, headers)
        payload = json.loads(response["body"]) if response.get("body") else None
        return response["statusCode"], payload

    def respond(self, method: str, path: str, body=None, query: str = "", headers: dict | None = None) -> dict:
        """The handler's whole response, headers included."""
        from workers.api import handler as api

        raw = json.dumps(body).encode() if body is not None else b""
        hdrs = {"content-type": "application/json", **(headers or {})} if body is not None else dict(headers or {})
        event = api_event(
            method=method, path=path, query=query, headers=list(hdrs.items()), body=raw,
            claims={"sub": self.sub, "token_use": "access"}, source_ip="127.0.0.1",
        )
        return api.handler(event, Context())


@pytest.fixture
def alice(aws) -> Caller:
    return Caller(ALICE)


@pytest.fixture
def bob(aws) -> Caller:
    return Caller(BOB)
