"""Stack outputs, typed once: `pulumi stack output --json` of a deployed stack
and `.local/stack.json` of the local one share the keys of `StackOutputs`, so
the ops CLI and the tests read either the same way. Also the dashboard's
`config.json`, which CloudFront and the local stack serve."""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Generic, TypeVar

from contract.http import ALLOWED_CONTENT_TYPES, MAX_FILE_SIZE, MULTIPART_THRESHOLD, OAUTH_SCOPES

T = TypeVar("T")


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda match: match.group(1).upper(), name)


class _Keyed:
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(_camel(field.name) for field in fields(cls))

    @classmethod
    def key(cls, field_name: str) -> str:
        if field_name not in {field.name for field in fields(cls)}:
            raise KeyError(f"{cls.__name__} has no {field_name}")
        return _camel(field_name)

    def as_dict(self) -> dict[str, Any]:
        return {_camel(field.name): _plain(getattr(self, field.name)) for field in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Reads the keys this type defines; other keys (another kind of stack's) are ignored.
        A key with a default may be absent (a stack output exported as null), and reads as it."""
        return cls(**{field.name: data.get(_camel(field.name), field.default) if field.default is not MISSING
                      else data[_camel(field.name)] for field in fields(cls)})


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class StackOutputs(_Keyed, Generic[T]):
    """What every stack exports, deployed or local."""

    api_url: T
    web_url: T
    bucket_name: T
    queue_url: T
    dead_letter_queue_url: T
    table_name: T
    user_pool_id: T
    user_pool_client_id: T
    region: T
    # The stack's lifecycle events (docs/events.md): the bus, and the log
    # group a rule on it keeps every event in, which `ops events` reads.
    event_bus_name: T
    event_bus_arn: T
    event_log_group: T
    # The webhook delivery queue and its DLQ; null on a stack without webhooks.
    webhook_queue_url: T | None = field(default=None, kw_only=True)
    webhook_dead_letter_queue_url: T | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class DeployedOutputs(StackOutputs[T]):
    alarm_topic_arn: T
    # The CloudWatch board of the alarm signals (not the dashboard, which is the web UI).
    monitoring_url: T


@dataclass(frozen=True)
class LocalOutputs(StackOutputs[T]):
    # Every other AWS service, through the front that enforces IAM (local/iam/front.py).
    aws_endpoint_url: T
    # S3 through the front that enforces what S3 enforces (local/s3/).
    aws_endpoint_url_s3: T
    # The on-call operator's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY),
    # which the ops CLI signs with: the local stack holds them to the operator's
    # policy (contract/permissions.py OPERATOR), as AWS would the on-call role.
    emulator_credentials: T
    hosted_ui_url: T
    demo_user: T
    # Whether GuardDuty is emulated (clamd installed): false means files are released unscanned.
    malware_scan: T


@dataclass(frozen=True)
class DashboardConfig(_Keyed, Generic[T]):
    """The dashboard's `config.json`: how it finds the API and signs in."""

    api_url: T
    cognito_domain: T
    user_pool_id: T
    user_pool_client_id: T
    redirect_uris: T
    region: T
    scopes: tuple[str, ...] = OAUTH_SCOPES
    multipart_threshold: int = MULTIPART_THRESHOLD
    # What the dashboard checks before any bytes move; the API still decides.
    max_file_size: int = MAX_FILE_SIZE
    accepted_types: tuple[str, ...] = ALLOWED_CONTENT_TYPES
