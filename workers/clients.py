"""boto3 clients shared by the handlers, built once per execution environment.

Retries are botocore's job (standard mode, jittered backoff); what is still
failing after them is a transient error for the caller to surface.
Endpoints come from boto3's own AWS_ENDPOINT_URL handling, so the same code
talks to AWS in Lambda and to the emulator on the local stack.
"""

from __future__ import annotations

import functools
import os

import boto3
from botocore.config import Config

from workers import settings

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=10,
    # SigV4 everywhere; presigned URLs must not fall back to SigV2.
    signature_version="s3v4",
    # Presigned URLs name the bucket's regional host. botocore otherwise signs
    # the global one, which answers a new bucket with a redirect for up to a
    # day, and a browser's CORS preflight cannot follow a redirect. An
    # AWS_ENDPOINT_URL given as an IP address (the local stack) stays path-style.
    s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"},
)


@functools.cache
def s3():
    return boto3.client("s3", config=_CONFIG)


@functools.cache
def table():
    return boto3.resource("dynamodb", config=_CONFIG).Table(os.environ[settings.ENV_TABLE_NAME])


@functools.cache
def dynamodb():
    """The low-level client, for libraries that speak DynamoDB's typed JSON."""
    return boto3.client("dynamodb", config=_CONFIG)


def bucket_name() -> str:
    return os.environ[settings.ENV_BUCKET_NAME]


def reset() -> None:
    """Forget cached clients (a new environment or a new mock)."""
    s3.cache_clear()
    table.cache_clear()
    dynamodb.cache_clear()
