"""boto3 clients shared by the handlers, built once per execution environment.

Retries are botocore's job (standard mode, jittered backoff); what is still
failing after them is a transient error for the caller to surface.
Endpoints come from boto3's own AWS_ENDPOINT_URL handling, so the same code
talks to AWS in Lambda and to the emulator on the local stack.

The ingest worker handles a batch's files on several threads. boto3 clients are
thread-safe and shared; sessions and resources are not: every client and
resource is made from the default session under one lock, and the table
resource is one per thread.
"""

from __future__ import annotations

import functools
import os
import threading
import time

import boto3
from botocore.config import Config

from contract.functions import ENV_BUCKET_NAME, ENV_TABLE_NAME
from contract.scan import ENV_MALWARE_SCAN, SCAN_ON_VALUE

# The workers reach the network only through botocore, so tracing patches only
# it: the X-Ray SDK's default patches every library it knows, importing each one
# that is installed at cold start.
TRACED_MODULES = ("botocore",)

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


_MAKING = threading.Lock()
_per_thread = threading.local()
# A process forked while another thread is making a client would inherit the
# session half changed and this lock held for good; extraction workers make
# their own reader clients, so a fork waits for the client being made.
os.register_at_fork(before=_MAKING.acquire, after_in_parent=_MAKING.release, after_in_child=_MAKING.release)


def _made_once(make):
    """`make`, run once per distinct arguments, and never by two threads at once."""
    cached = functools.cache(make)

    @functools.wraps(make)
    def get(*args):
        with _MAKING:
            return cached(*args)

    get.cache_clear = cached.cache_clear
    return get


@_made_once
def s3():
    return boto3.client("s3", config=_CONFIG)


# A ranged read must give up while the invocation can still report the file.
_READ_ATTEMPTS = 2
# Per-attempt read timeouts a reader client can have: few, so each is built once.
_READ_TIMEOUTS_S = (1.0, 2.0, 4.0, 8.0)


def ranged_reader(not_after: float):
    """The S3 client for one extraction, with timeouts that fit in the time left
    before `not_after` (a `time.monotonic()` instant): a stalled GET must not
    block past the invocation's end with botocore's retries stacked on top.

    Extraction runs in a forked worker (workers/extraction/pool.py), which
    makes these clients itself and keeps them from one file to the next; the
    parent never uses one, so it never holds a connection a worker could share."""
    left = not_after - time.monotonic()
    fitting = [timeout for timeout in _READ_TIMEOUTS_S if timeout * _READ_ATTEMPTS <= left]
    return _reader(fitting[-1] if fitting else _READ_TIMEOUTS_S[0])


@_made_once
def _reader(read_timeout_s: float):
    return boto3.client("s3", config=_CONFIG.merge(Config(
        read_timeout=read_timeout_s,
        connect_timeout=min(_CONFIG.connect_timeout, read_timeout_s),
        retries={"mode": "standard", "max_attempts": _READ_ATTEMPTS},
    )))


def table():
    """The calling thread's own Table resource."""
    resource = getattr(_per_thread, "table", None)
    if resource is None:
        with _MAKING:
            resource = _per_thread.table = boto3.resource("dynamodb", config=_CONFIG).Table(os.environ[ENV_TABLE_NAME])
    return resource


@_made_once
def dynamodb():
    """The low-level client, for libraries that speak DynamoDB's typed JSON."""
    return boto3.client("dynamodb", config=_CONFIG)


@_made_once
def events():
    """The lifecycle event producer's, for PutEvents on the stack's bus."""
    return boto3.client("events", config=_CONFIG)


def bucket_name() -> str:
    return os.environ[ENV_BUCKET_NAME]


def scanning() -> bool:
    """Whether the stack has a malware protection plan (`uploads:malwareScan`)."""
    return os.environ[ENV_MALWARE_SCAN] == SCAN_ON_VALUE


def reset() -> None:
    """Forget cached clients (a new environment or a new mock)."""
    global _per_thread
    s3.cache_clear()
    _reader.cache_clear()
    dynamodb.cache_clear()
    events.cache_clear()
    _per_thread = threading.local()
