"""What each Lambda function is, for Pulumi and for the local runtime alike:
handler path, Powertools service, timeout, memory and the environment
variables it reads. Both sides build a function's environment with
`FunctionSpec.environment`, so they cannot give it different variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from contract import metrics
from contract.http import API_TIMEOUT_S
from contract.ingest import INGEST, IngestSettings
from contract.names import Names
from contract.scan import ENV_MALWARE_SCAN
from contract.webhooks import DELIVERY, ENV_WEBHOOK_DELIVERY, ENV_WEBHOOK_ENDPOINTS, DeliverySettings

ENV_TABLE_NAME = "TABLE_NAME"
ENV_BUCKET_NAME = "BUCKET_NAME"
ENV_STACK = "UPLOADS_STACK"
ENV_EVENT_BUS = "EVENT_BUS_NAME"
ENV_CURSOR_SECRET_PARAMETER = "CURSOR_SECRET_PARAMETER"
# The per-user limits (`contract/quotas.py`), which only the API enforces.
ENV_QUOTA_BYTES = "QUOTA_BYTES"
ENV_QUOTA_FILES = "QUOTA_FILES"
ENV_TICKET_RATE_LIMIT = "TICKET_RATE_LIMIT"
ENV_PART_URL_RATE_LIMIT = "PART_URL_RATE_LIMIT"
QUOTA_VARIABLES = (ENV_QUOTA_BYTES, ENV_QUOTA_FILES, ENV_TICKET_RATE_LIMIT, ENV_PART_URL_RATE_LIMIT)

T = TypeVar("T")


@dataclass(frozen=True)
class FunctionSpec:
    handler: str
    # Powertools' service name: the `service` dimension of the EMF metrics,
    # and the last part of the function's name.
    service: str
    timeout_s: int
    memory_mb: int
    # What the function reads from its environment, besides Powertools' own.
    variables: tuple[str, ...]
    reserved_concurrency: int | None = None

    def function_name(self, names: Names) -> str:
        return names.function(self.service)

    def environment(self, values: Mapping[str, T], log_level: str = "INFO") -> dict[str, T | str]:
        """The function's variables from `values`, which must name each of
        `variables` (and may name more, for other functions)."""
        missing = set(self.variables) - set(values)
        if missing:
            raise ValueError(f"{self.service}: no value for {sorted(missing)}")
        return {
            "POWERTOOLS_SERVICE_NAME": self.service,
            "POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE,
            "LOG_LEVEL": log_level,
            **{name: values[name] for name in self.variables},
        }


def ingest_worker(ingest: IngestSettings = INGEST) -> FunctionSpec:
    return FunctionSpec(
        handler="workers.ingest.handler.handler",
        service=metrics.INGEST_SERVICE,
        timeout_s=ingest.worker_timeout_s,
        memory_mb=ingest.worker_memory_mb,
        variables=(ENV_TABLE_NAME, ENV_BUCKET_NAME, ENV_STACK, ENV_MALWARE_SCAN),
        reserved_concurrency=ingest.reserved_concurrency,
    )


API = FunctionSpec(
    handler="workers.api.handler.handler",
    service=metrics.API_SERVICE,
    timeout_s=API_TIMEOUT_S,
    memory_mb=512,
    variables=(ENV_TABLE_NAME, ENV_BUCKET_NAME, ENV_STACK, ENV_MALWARE_SCAN, ENV_CURSOR_SECRET_PARAMETER,
               *QUOTA_VARIABLES),
)


# The lifecycle event producer: a batch of stream records is a few PutEvents
# calls, so it needs little memory and seconds at most.
EVENTS = FunctionSpec(
    handler="workers.events.handler.handler",
    service=metrics.EVENTS_SERVICE,
    timeout_s=30,
    memory_mb=256,
    variables=(ENV_EVENT_BUS, ENV_STACK),
)


def webhook_delivery(settings: DeliverySettings = DELIVERY) -> FunctionSpec:
    return FunctionSpec(
        handler="workers.webhooks.handler.handler",
        service=metrics.WEBHOOKS_SERVICE,
        timeout_s=settings.worker_timeout_s,
        memory_mb=settings.memory_mb,
        variables=(ENV_STACK, ENV_WEBHOOK_ENDPOINTS, ENV_WEBHOOK_DELIVERY),
        reserved_concurrency=settings.reserved_concurrency,
    )
