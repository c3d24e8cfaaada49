"""The stack's configuration, read once and validated before any resource
exists, so a typo fails `pulumi preview` with the key's name instead of
failing half-way through `pulumi up` with an AWS error."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from dataclasses import dataclass

import pulumi

from contract.events import DETAIL_TYPES
from contract.ingest import (
    INGEST,
    MAX_BATCH_SIZE,
    MAX_BATCHING_WINDOW_S,
    MAXIMUM_CONCURRENCY,
    IngestSettings,
    batching_window_for,
)
from contract.names import PROJECT
from contract.quotas import QUOTAS, Quotas
from contract.webhooks import ENDPOINT_NAME, SECRET_PREFIX, SECRETS_MANAGER_ARN, WebhookEndpoint

NAMESPACE = PROJECT
# Stack names end up in bucket names and the Cognito domain, which allow only
# lowercase letters, digits and hyphens, and cap the length.
STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
EPHEMERAL_STACK_PREFIX = "dev-"
# The stack that holds users' files: scanning is on unless its config says otherwise.
PRODUCTION_STACK = "prod"
EPHEMERAL_LOG_RETENTION_DAYS = 3
DEFAULT_LOG_RETENTION_DAYS = 90
# The values CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)
# Only classes that keep objects instantly readable: downloads are plain
# presigned GETs, which an archived object would refuse.
COLD_STORAGE_CLASSES = ("STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR")
# S3 bills infrequent-access classes for at least 30 days anyway.
MIN_COLD_STORAGE_DAYS = 30
MFA_MODES = ("OFF", "OPTIONAL", "ON")
# The HTTP API stage's throttle when a stack sets none (bench/capacity.py reads them).
DEFAULT_API_BURST_LIMIT = 100
DEFAULT_API_RATE_LIMIT = 50
ALARM_PROTOCOLS = ("email", "https")
LOCAL_ORIGIN = re.compile(r"^http://(localhost|127\.0\.0\.1)(:\d+)?$")
# Single-Region key ids are UUIDs; multi-Region ones are `mrk-` and 32 hex digits.
KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$")
# Domains reserved for documentation and testing (RFC 2606, RFC 6761): no mail
# is ever delivered there, so SNS's confirmation would never be answered and the
# alarms would reach nobody.
UNDELIVERABLE_DOMAIN = re.compile(r"(^|\.)(example\.(com|net|org)|example|test|invalid|localhost)$")


class ConfigError(pulumi.RunError):
    """A bad configuration value; the message starts with the full key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{NAMESPACE}:{key}: {problem}")


@dataclass(frozen=True)
class AlarmSubscription:
    protocol: str
    endpoint: str


@dataclass(frozen=True)
class StackConfig:
    stack: str
    region: str
    owner: str
    # Per-developer stacks: everything can be destroyed without ceremony.
    ephemeral: bool
    log_retention_days: int
    kms_key_arn: str | None
    noncurrent_version_days: int
    cold_storage_days: int | None
    cold_storage_class: str
    api_burst_limit: int
    api_rate_limit: int
    mfa: str
    alarm_subscriptions: tuple[AlarmSubscription, ...]
    # Where a developer runs the dashboard against an ephemeral stack.
    local_origin: str
    ingest: IngestSettings
    # Per user: what they may hold, and how fast they may ask for upload URLs.
    quotas: Quotas
    # GuardDuty Malware Protection on incoming/: nothing is released until clean.
    malware_scan: bool
    # Where lifecycle events are POSTed, signed (docs/events.md#webhooks); empty: no delivery at all.
    webhooks: tuple[WebhookEndpoint, ...] = ()


def load_config(stack: str) -> StackConfig:
    if not STACK_NAME.match(stack):
        raise pulumi.RunError(
            f"stack name {stack!r}: use 1-24 lowercase letters, digits or hyphens, starting with a letter"
        )
    config = pulumi.Config(NAMESPACE)
    ephemeral = config.get_bool("ephemeral")
    if ephemeral is None:
        ephemeral = stack.startswith(EPHEMERAL_STACK_PREFIX)
    retention = config.get_int("logRetentionDays")
    if retention is None:
        retention = EPHEMERAL_LOG_RETENTION_DAYS if ephemeral else DEFAULT_LOG_RETENTION_DAYS
    _check("logRetentionDays", retention in LOG_RETENTION_DAYS, f"must be one of {LOG_RETENTION_DAYS}")
    region = pulumi.Config("aws").require("region")
    kms_key_arn = _kms_key_arn(config, region)
    cold_days = config.get_int("coldStorageDays")
    _check("coldStorageDays", cold_days is None or cold_days >= MIN_COLD_STORAGE_DAYS,
           f"must be at least {MIN_COLD_STORAGE_DAYS}")
    cold_class = config.get("coldStorageClass") or COLD_STORAGE_CLASSES[0]
    _check("coldStorageClass", cold_class in COLD_STORAGE_CLASSES, f"must be one of {COLD_STORAGE_CLASSES}")
    mfa = config.get("mfa") or "OPTIONAL"
    _check("mfa", mfa in MFA_MODES, f"must be one of {MFA_MODES}")
    malware_scan = config.get_bool("malwareScan")
    if malware_scan is None:
        # Production holds users' files; other stacks turn it on to test it (GuardDuty bills per GB).
        malware_scan = stack == PRODUCTION_STACK
    local_origin = config.get("localOrigin") or "http://localhost:8080"
    _check("localOrigin", bool(LOCAL_ORIGIN.match(local_origin)), "must be an http://localhost origin")
    return StackConfig(
        stack=stack,
        region=region,
        owner=config.require("owner"),
        ephemeral=ephemeral,
        log_retention_days=retention,
        kms_key_arn=kms_key_arn,
        noncurrent_version_days=_positive(config, "noncurrentVersionDays", 30),
        cold_storage_days=cold_days,
        cold_storage_class=cold_class,
        api_burst_limit=_positive(config, "apiBurstLimit", DEFAULT_API_BURST_LIMIT),
        api_rate_limit=_positive(config, "apiRateLimit", DEFAULT_API_RATE_LIMIT),
        mfa=mfa,
        alarm_subscriptions=_subscriptions(config, required=not ephemeral),
        local_origin=local_origin,
        ingest=_ingest(config),
        malware_scan=malware_scan,
        webhooks=_webhooks(config, region),
        quotas=Quotas(
            max_bytes=_positive(config, "quotaBytes", QUOTAS.max_bytes),
            max_files=_positive(config, "quotaFiles", QUOTAS.max_files),
            tickets_per_minute=_positive(config, "ticketRateLimit", QUOTAS.tickets_per_minute),
            part_url_requests_per_minute=_positive(config, "partUrlRateLimit", QUOTAS.part_url_requests_per_minute),
        ),
    )


def _ingest(config: pulumi.Config) -> IngestSettings:
    batch_size = _positive(config, "ingestBatchSize", INGEST.batch_size)
    _check("ingestBatchSize", batch_size <= MAX_BATCH_SIZE,
           f"must be at most {MAX_BATCH_SIZE}: a bigger batch shrinks each file's share of the worker's timeout")
    window = config.get_int("ingestBatchingWindowSeconds")
    window = batching_window_for(batch_size) if window is None else window
    _check("ingestBatchingWindowSeconds", 0 <= window <= MAX_BATCHING_WINDOW_S,
           f"must be within 0-{MAX_BATCHING_WINDOW_S} seconds (AWS's bounds); 0 invokes as soon as a file arrives")
    concurrency = config.get_int("ingestMaximumConcurrency")
    concurrency = INGEST.maximum_concurrency if concurrency is None else concurrency
    low, high = MAXIMUM_CONCURRENCY
    _check("ingestMaximumConcurrency", low <= concurrency <= high, f"must be within {low}-{high} (AWS's bounds)")
    reserved = config.get_int("workerReservedConcurrency")
    _check("workerReservedConcurrency", reserved is None or reserved >= concurrency,
           f"must be at least the event source's maximum concurrency, {concurrency}; leave it unset to reserve none")
    return dataclasses.replace(INGEST, batch_size=batch_size, batching_window_s=window,
                               maximum_concurrency=concurrency, reserved_concurrency=reserved)


_WEBHOOK_KEYS = {"name", "url", "secretParameter", "detailTypes"}
# An SSM parameter name: letters, digits and . - _ / (https://docs.aws.amazon.com/systems-manager/latest/userguide/
# sysman-parameter-name-constraints.html).
_PARAMETER_NAME = re.compile(r"^/?[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def _webhooks(config: pulumi.Config, region: str) -> tuple[WebhookEndpoint, ...]:
    """`uploads:webhooks`: a list of {name, url, secretParameter, detailTypes?}.
    A deployed stack's endpoints are reached over the internet, so only over
    HTTPS; the local stack provisions its own (local/stack.py), never from here."""
    raw = config.get_object("webhooks") or []
    _check("webhooks", isinstance(raw, list), "must be a list of {name, url, secretParameter, detailTypes}")
    endpoints: list[WebhookEndpoint] = []
    for index, item in enumerate(raw):
        key = f"webhooks[{index}]"
        _check(key, isinstance(item, dict) and {"name", "url", "secretParameter"} <= set(item) <= _WEBHOOK_KEYS,
               f"must be an object with name, url and secretParameter, and optionally detailTypes; "
               f"got {sorted(item) if isinstance(item, dict) else item!r}")
        name, url, parameter = str(item["name"]), str(item["url"]), str(item["secretParameter"])
        _check(f"{key}.name", bool(ENDPOINT_NAME.match(name)),
               "1-23 lowercase letters, digits or hyphens, starting with a letter (it names the endpoint's rule)")
        _check(f"{key}.name", name not in {e.name for e in endpoints}, f"{name!r} is used twice")
        split = urllib.parse.urlsplit(url)
        _check(f"{key}.url", split.scheme == "https" and bool(split.hostname),
               f"{url!r}: must be an https:// URL (events are signed, not encrypted)")
        _check(f"{key}.secretParameter", not parameter.startswith(SECRET_PREFIX),
               "holds the secret itself: store it in an SSM SecureString and name the parameter here, e.g. "
               f"aws ssm put-parameter --type SecureString --name /uploads/<stack>/webhooks/{name} --value whsec_...")
        secret_arn = SECRETS_MANAGER_ARN.match(parameter)
        _check(f"{key}.secretParameter", bool(_PARAMETER_NAME.match(parameter)) or secret_arn is not None,
               "must be the name of an SSM SecureString parameter, such as /uploads/<stack>/webhooks/<name>, "
               "or the full ARN of a Secrets Manager secret (with its random suffix: IAM grants it by that ARN)")
        # The function's clients are in the stack's region, and so must the secret be.
        _check(f"{key}.secretParameter", secret_arn is None or secret_arn["region"] == region,
               f"the secret is in another region than the stack's ({region}); replicate it to {region}")
        detail_types = item.get("detailTypes", list(DETAIL_TYPES))
        _check(f"{key}.detailTypes", isinstance(detail_types, list) and bool(detail_types)
               and set(detail_types) <= set(DETAIL_TYPES),
               f"must be a non-empty list of {list(DETAIL_TYPES)}")
        endpoints.append(WebhookEndpoint(name, url, parameter, tuple(detail_types)))
    return tuple(endpoints)


def _positive(config: pulumi.Config, key: str, default: int) -> int:
    value = config.get_int(key)
    value = default if value is None else value
    _check(key, value > 0, f"must be a positive integer, got {value}")
    return value


def _kms_key_arn(config: pulumi.Config, region: str) -> str | None:
    arn = config.get("kmsKeyArn")
    if arn is None:
        return None
    match = KMS_KEY_ARN.match(arn)
    _check("kmsKeyArn", match is not None, "must be a KMS key ARN")
    # KMS keys are regional, and S3 and SSM use only a key in their own region;
    # preview cannot tell, so `pulumi up` would fail half-way:
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
    _check("kmsKeyArn", match["region"] == region,
           f"the key is in {match['region']} but the stack deploys to {region} (aws:region); "
           f"use a key in {region}, or a replica there of a multi-Region key")
    return arn


def _subscriptions(config: pulumi.Config, required: bool) -> tuple[AlarmSubscription, ...]:
    raw = config.get_object("alarmSubscriptions") or []
    _check("alarmSubscriptions", isinstance(raw, list), "must be a list of {protocol, endpoint}")
    # A long-lived stack's alarms must reach someone; a developer's own stack may stay quiet.
    _check("alarmSubscriptions", bool(raw) or not required,
           "required for a stack that is not ephemeral: name the on-call address that confirms SNS's email, e.g. "
           "pulumi config set --path 'uploads:alarmSubscriptions[0].protocol' email && "
           "pulumi config set --path 'uploads:alarmSubscriptions[0].endpoint' <on-call address>")
    subscriptions = []
    for index, item in enumerate(raw):
        key = f"alarmSubscriptions[{index}]"
        _check(key, isinstance(item, dict) and set(item) == {"protocol", "endpoint"},
               "must be an object with exactly `protocol` and `endpoint`")
        protocol, endpoint = item["protocol"], str(item["endpoint"])
        _check(key, protocol in ALARM_PROTOCOLS, f"protocol must be one of {ALARM_PROTOCOLS}")
        valid = "@" in endpoint if protocol == "email" else endpoint.startswith("https://")
        _check(key, valid, f"endpoint {endpoint!r} is not a valid {protocol} endpoint")
        _check(key, not UNDELIVERABLE_DOMAIN.search(_domain(protocol, endpoint)),
               f"endpoint {endpoint!r} is in a reserved domain that never receives SNS's confirmation")
        subscriptions.append(AlarmSubscription(protocol, endpoint))
    return tuple(subscriptions)


def _domain(protocol: str, endpoint: str) -> str:
    if protocol == "email":
        return endpoint.rpartition("@")[2].lower()
    return (urllib.parse.urlsplit(endpoint).hostname or "").lower()


def _check(key: str, ok: bool, problem: str) -> None:
    if not ok:
        raise ConfigError(key, problem)
