"""A faulty AWS, on purpose: the failures the real services produce now and then,
injected at chosen rates so the system can be shown to survive them.

- AWS calls (in an execution environment): added latency; S3 throttling (503 SlowDown),
  DynamoDB throttling (400 ProvisionedThroughputExceededException or
  ThrottlingException) and 500 InternalError, answered instead of sending the
  request, in the service's real error shape; read timeouts, raised after the
  request was sent, so the service may have applied what the caller thinks
  failed; and crashed invocations, where the environment dies right after one
  of the invocation's DynamoDB UpdateItem calls, so a batch ends with some of
  its records written.
- Deliveries (in the event source mapping): a batch's messages in shuffled
  order, and successful messages delivered again, as SQS's at-least-once
  delivery allows.

The hooks go on boto3's default session, so the clients that workers/clients.py
creates afterwards carry them with no change to the product code. The stack
passes the configuration to each environment in `ENV_VAR`.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

ENV_VAR = "UPLOADS_LOCAL_FAULTS"
# A crashing invocation dies after its first few record writes, so some of its
# batch has been written and the rest has not.
_MAX_WRITES_BEFORE_CRASH = 3


@dataclass(frozen=True)
class Faults:
    """Rates in [0, 1]: per AWS call, per invocation (`crash`), per batch
    (`shuffle`) and per successful message (`duplicate_delivery`)."""

    s3_throttle: float = 0.0
    dynamodb_throttle: float = 0.0
    server_error: float = 0.0
    read_timeout: float = 0.0
    crash: float = 0.0
    duplicate_delivery: float = 0.0
    shuffle: float = 0.0
    # Seconds every S3 and DynamoDB call waits before it is sent: a degraded dependency.
    latency_s: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency_s < 0:
            raise ValueError(f"latency_s must not be negative, not {self.latency_s}")
        for name, value in asdict(self).items():
            if name not in ("seed", "latency_s") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a rate in [0, 1], not {value}")

    def to_env(self) -> dict[str, str]:
        return {ENV_VAR: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls, environ: dict[str, str] = os.environ) -> Faults | None:
        raw = environ.get(ENV_VAR)
        return cls(**json.loads(raw)) if raw else None


class _Body:
    """The raw stream an AWSResponse reads its content from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_):
        yield self._content


def _s3_error(url: str, status: int, code: str, message: str) -> AWSResponse:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return AWSResponse(url, status, {"content-type": "application/xml", "content-length": str(len(body))}, _Body(body))


def _dynamodb_error(url: str, status: int, code: str, message: str) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
    return AWSResponse(url, status, {"content-type": "application/x-amz-json-1.0", "content-length": str(len(body))},
                       _Body(body))


_THROTTLES = {
    "s3": lambda url, rng: _s3_error(url, 503, "SlowDown", "Please reduce your request rate."),
    "dynamodb": lambda url, rng: _dynamodb_error(
        url, 400, rng.choice(["ProvisionedThroughputExceededException", "ThrottlingException"]),
        "The level of configured provisioned throughput for the table was exceeded."),
}
_SERVER_ERRORS = {
    "s3": lambda url: _s3_error(url, 500, "InternalError", "We encountered an internal error. Please try again."),
    "dynamodb": lambda url: _dynamodb_error(url, 500, "InternalServerError", "Internal server error"),
}


def _table(request) -> str | None:
    try:
        return json.loads(request.body or b"{}").get("TableName")
    except ValueError:
        return None


class Injector:
    """The botocore handlers for one configuration, with one random stream.
    `injected` counts what was injected, by kind."""

    def __init__(self, faults: Faults, rng: random.Random) -> None:
        self.faults = faults
        self.rng = rng
        self.injected: dict[str, int] = {}
        self._lock = threading.Lock()
        self._http = URLLib3Session()
        self._crash_after: int | None = None

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self.rng.random() < rate

    def _note(self, kind: str, event_name: str, table: str | None = None) -> None:
        with self._lock:
            self.injected[kind] = self.injected.get(kind, 0) + 1
        # The environment's stderr is its log: the soak counts these lines, and
        # the local CloudWatch publishes DynamoDB's ThrottledRequests from the
        # table a throttle names, as DynamoDB itself would.
        print(f"local.faults: injected {kind} on {event_name}" + (f" table {table}" if table else ""),
              file=sys.stderr, flush=True)

    def before_send(self, request, event_name: str, **_):
        if self.faults.latency_s:
            time.sleep(self.faults.latency_s)
        service = event_name.split(".")[1]
        throttle = self.faults.s3_throttle if service == "s3" else self.faults.dynamodb_throttle
        if self._roll(throttle):
            self._note("throttle", event_name, _table(request) if service == "dynamodb" else None)
            return _THROTTLES[service](request.url, self.rng)
        if self._roll(self.faults.server_error):
            self._note("server_error", event_name)
            return _SERVER_ERRORS[service](request.url)
        if self._roll(self.faults.read_timeout):
            self._note("read_timeout", event_name)
            # The request is signed and whole: it reaches the service, and only
            # the answer is lost, as in a real read timeout.
            self._http.send(request)
            raise ReadTimeoutError(endpoint_url=request.url)
        return None

    def begin_invocation(self) -> None:
        """Decide whether this invocation crashes, and after how many of its
        UpdateItem calls: one that makes fewer survives."""
        with self._lock:
            self._crash_after = (self.rng.randint(1, _MAX_WRITES_BEFORE_CRASH)
                                 if self.faults.crash > 0 and self.rng.random() < self.faults.crash else None)

    def after_update_item(self, event_name: str, **_):
        with self._lock:
            if self._crash_after is None:
                return
            self._crash_after -= 1
            crashes = self._crash_after == 0
        if crashes:
            self._note("crash", event_name)
            # No cleanup, no exception handler: the process is gone, as when
            # Lambda's environment is killed mid-invocation.
            os._exit(1)

    def register(self, events) -> None:
        for service in ("s3", "dynamodb"):
            # First: a fault answers before any other handler could (moto's
            # in-process mock is one), as the real service fails before it serves.
            events.register_first(f"before-send.{service}", self.before_send)
        events.register("after-call.dynamodb.UpdateItem", self.after_update_item)


def install(faults: Faults, rng: random.Random | None = None) -> Injector:
    """Put the hooks on boto3's default session: every client made after this
    call (boto3.client, boto3.resource) injects `faults`."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    injector = Injector(faults, rng or random.Random(faults.seed))
    injector.register(boto3.DEFAULT_SESSION.events)
    return injector


def install_from_env() -> Injector | None:
    """What an execution environment calls before it imports the handler."""
    faults = Faults.from_env()
    if faults is None:
        return None
    # Each environment process draws its own stream: one restarted after a
    # crash must not replay, call for call, the crash that killed the last one.
    return install(faults, random.Random(f"{faults.seed}:{os.getpid()}"))


class Deliveries:
    """What SQS's at-least-once delivery may do to the event source mapping's
    batches: their order is not the order sent, and a message that was
    processed and deleted may still be delivered again."""

    def __init__(self, faults: Faults | None) -> None:
        self.faults = faults or Faults()
        self.rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()

    def order(self, batch: list[dict]) -> list[dict]:
        with self._lock:
            if self.faults.shuffle and self.rng.random() < self.faults.shuffle:
                batch = list(batch)
                self.rng.shuffle(batch)
        return batch

    def repeats(self, done: list[dict]) -> list[dict]:
        """Messages of a finished batch to deliver once more."""
        with self._lock:
            rate = self.faults.duplicate_delivery
            return [message for message in done if rate and self.rng.random() < rate]
