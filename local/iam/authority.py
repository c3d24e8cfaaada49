"""Who may call the local stack, and the one place its IAM decisions are made.

Each principal has credentials of its own, as a role's session would: an
access key id the fronts identify the caller by (from the SigV4 signature,
verified with the principal's secret), and the identity policy
contract/permissions.py defines for it, rendered with the local stack's ARNs:

- `api`, `ingest`, `events`, `webhooks`: the functions' execution roles
  (`webhooks` only on a stack with webhook endpoints). Each event source
  mapping polls with its function's role, as AWS's does.
- `operator`: the on-call operator, whose credentials the stack file hands to
  the ops CLI (`emulatorCredentials`).
- `deployer`: provisioning and the tests' own clients (`LocalStack.client`),
  allowed everything, like the account's administrator who runs `pulumi up`.

`aws:SecureTransport` is true for every request: the local stack speaks plain
HTTP on loopback, and its fronts stand in for AWS's TLS endpoints (every
client of a deployed stack uses HTTPS). So the bucket policy's TLS-only deny
is evaluated, and does not apply, exactly as for an HTTPS request to AWS.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from contract import permissions
from contract.metrics import API_SERVICE, EVENTS_SERVICE, INGEST_SERVICE, WEBHOOKS_SERVICE
from contract.names import Names
from local.iam.evaluate import Caller, Decision, Policy, Request, denial_message, evaluate
from local.iam.record import Recorder

DEPLOYER, OPERATOR = "deployer", "operator"
API, INGEST, EVENTS, WEBHOOKS = API_SERVICE, INGEST_SERVICE, EVENTS_SERVICE, WEBHOOKS_SERVICE
# The principals whose grants tests/iam/test_least_privilege.py holds to what they used.
ASSESSED = (API, INGEST, EVENTS, WEBHOOKS, OPERATOR)

_ADMINISTRATOR = {"Version": permissions.VERSION,
                  "Statement": [{"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Principal:
    name: str
    caller: Caller
    access_key: str
    secret_key: str = field(repr=False)
    policies: tuple[Policy, ...]

    @property
    def credentials(self) -> dict[str, str]:
        """As the stack file and a function's environment carry them."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}


def _credentials() -> tuple[str, str]:
    # The shape of a role session's key (ASIA...), unique per principal and start.
    return "ASIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)


@dataclass(frozen=True)
class Check:
    """One IAM question a request asks: may the caller do `action` on `resource`?"""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    # Why this check is made, when it is not the request's own action (a copy's source, S3's 403-or-404).
    note: str | None = None


@dataclass(frozen=True)
class Refusal:
    request: Request
    decision: Decision
    message: str


class Authority:
    """The stack's principals and resource policies; decides and records."""

    def __init__(self, stack: str, region: str, account: str, principals: Sequence[Principal],
                 resource_policies: Mapping[str, Policy], recorder: Recorder | None = None) -> None:
        self.stack = stack
        self.region = region
        self.account = account
        self._principals = {p.access_key: p for p in principals}
        self._by_name = {p.name: p for p in principals}
        # By ARN prefix: a bucket's policy covers the bucket and every object in it.
        self._resource_policies = dict(resource_policies)
        self.recorder = recorder
        self._observers: list[list[dict]] = []
        self._lock = threading.Lock()

    @classmethod
    def for_stack(cls, names: Names, region: str, account: str, malware_scan: bool = False,
                  webhook_secrets: Sequence[str] = ()) -> Authority:
        """`webhook_secrets`: the stack's webhook endpoints' secret parameters; with
        none, the stack has no delivery function and no `webhooks` principal."""
        def role(name: str, session: str, statements, function: str | None = None) -> Principal:
            rendered = permissions.render(statements, permissions.arns(names, region, account, function=function))
            policy = Policy.parse(f"identity:{name}", permissions.document(rendered))
            return Principal(name, Caller(f"arn:aws:sts::{account}:assumed-role/{session}", account),
                             *_credentials(), (policy,))

        api, ingest, events = names.api_function, names.ingest_function, names.events_function
        principals = [
            Principal(DEPLOYER, Caller(f"arn:aws:iam::{account}:user/deployer", account), *_credentials(),
                      (Policy.parse(f"identity:{DEPLOYER}", _ADMINISTRATOR),)),
            role(API, f"{api}/{api}", permissions.ROLES[API], function=api),
            role(INGEST, f"{ingest}/{ingest}", permissions.ROLES[INGEST], function=ingest),
            role(EVENTS, f"{events}/{events}", permissions.ROLES[EVENTS], function=events),
            role(OPERATOR, f"{names.prefix}-oncall/operator", permissions.OPERATOR),
        ]
        if webhook_secrets:
            webhooks = names.webhooks_function
            principals.append(role(WEBHOOKS, f"{webhooks}/{webhooks}", permissions.webhook_delivery(webhook_secrets),
                                   function=webhooks))
        bucket_arn = permissions.arns(names, region, account)[permissions.BUCKET]
        bucket_policy = Policy.parse(
            f"bucket:{names.upload_bucket(account)}",
            permissions.document(permissions.render(permissions.upload_bucket_policy(malware_scan),
                                                    permissions.arns(names, region, account))),
            resource_policy=True,
        )
        return cls(names.stack, region, account, principals, {bucket_arn: bucket_policy},
                   Recorder.from_env(names.stack))

    # --- Principals ------------------------------------------------------------------------------

    def principal(self, access_key: str) -> Principal | None:
        return self._principals.get(access_key)

    def named(self, name: str) -> Principal:
        return self._by_name[name]

    def probe(self, of: str) -> Principal:
        """A principal with `of`'s policies and credentials of its own, recorded as
        `<of>-probe`: tests that make a role's calls fail on purpose use it, so
        their refusals are not taken for the role's own."""
        original = self._by_name[of]
        probe = replace(original, name=f"{of}-probe", caller=replace(original.caller,
                                                                      arn=original.caller.arn + "-probe"))
        probe = replace(probe, **dict(zip(("access_key", "secret_key"), _credentials(), strict=True)))
        with self._lock:
            self._principals[probe.access_key] = probe
            self._by_name[probe.name] = probe
        return probe

    def secrets(self) -> list[str]:
        return [p.secret_key for p in self._principals.values()]

    # --- Decisions -----------------------------------------------------------------------------

    def decide(self, principal: Principal, checks: Sequence[Check], *, service: str, operation: str,
               context: Mapping[str, Any] | None = None) -> Refusal | None:
        """Every check of one request, each recorded; the first refusal, if any.
        A request is allowed only if each of its checks is."""
        now = datetime.now(UTC)
        common = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": principal.caller.role_arn or principal.caller.arn,
            "aws:PrincipalAccount": principal.caller.account,
            "aws:RequestedRegion": self.region,
            "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now.timestamp())),
            **(context or {}),
        }
        refusal = None
        for check in checks:
            request = Request(principal.caller, check.action, check.resource, {**common, **check.context})
            decision = evaluate(request, principal.policies, self._resource_policy(check.resource))
            self._record(principal, service, operation, check, decision)
            if not decision.allowed and refusal is None:
                refusal = Refusal(request, decision, denial_message(request, decision))
        return refusal

    def refuse_unclassified(self, principal: Principal | None, service: str, operation: str, why: str) -> str:
        """Records an operation the fronts cannot map to IAM, and says so."""
        message = (f"The local stack's IAM front cannot tell which IAM action and resource {service}:{operation} "
                   f"needs ({why}), so it refuses the call rather than let it through unchecked: "
                   f"teach local/iam/ the operation.")
        if principal is not None:
            self._write(principal, service, operation, f"{service}:{operation}", None, False, "unclassified", [],
                        None)
        return message

    def _resource_policy(self, resource: str) -> Policy | None:
        for prefix, policy in self._resource_policies.items():
            if resource == prefix or resource.startswith(prefix + "/"):
                return policy
        return None

    def _record(self, principal: Principal, service: str, operation: str, check: Check,
                decision: Decision) -> None:
        self._write(principal, service, operation, check.action, check.resource, decision.allowed, decision.reason,
                    [m.as_dict() for m in decision.matches], check.note)

    def _write(self, principal: Principal, service: str, operation: str, action: str, resource: str | None,
               allowed: bool, reason: str, matches: list, note: str | None) -> None:
        if self.recorder is None and not self._observers:
            return
        entry = {
            "time": round(time.time(), 3),
            "stack": self.stack,
            "principal": principal.name,
            "arn": principal.caller.arn,
            "service": service,
            "operation": operation,
            "action": action,
            "resource": resource,
            "allowed": allowed,
            "reason": reason,
            "statements": matches,
            **({"note": note} if note else {}),
        }
        if self.recorder is not None:
            self.recorder.write(entry)
        for observer in list(self._observers):
            observer.append(entry)

    @contextlib.contextmanager
    def observe(self) -> Iterator[list[dict]]:
        """The decisions made while this lasts, as the recorder writes them."""
        seen: list[dict] = []
        self._observers.append(seen)
        try:
            yield seen
        finally:
            self._observers.remove(seen)

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
