"""IAM policy evaluation, as AWS documents it, for the local stack's fronts.

Sources:
- Policy evaluation logic:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- The difference between explicit and implicit denies:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html
- Condition operators (and ...IfExists, Null, ForAnyValue/ForAllValues):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- Resource element (wildcards within ARN segments):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html

The rules applied, for a request (principal, action, resource, context):

1. A statement applies when its Action (or NotAction) matches the action, its
   Resource (or NotResource) matches the resource, its Principal (or
   NotPrincipal; resource policies only) matches the caller, and every one of
   its conditions holds. A statement whose condition does not hold does not
   apply: it neither allows nor denies.
2. Any applicable Deny, in any policy: explicit deny.
3. Otherwise any applicable Allow, in the caller's identity policies or (same
   account) in the resource's policy: allowed.
4. Otherwise: implicit deny.

Matching: actions are compared case-insensitively, with `*` and `?`; resources
case-sensitively, segment by segment of the ARN (a wildcard does not cross a
`:` except in the last, resource, segment), `*` alone matching anything;
condition keys case-insensitively, condition values as their operator says.

Everything a policy may hold is checked when it is loaded: an unknown element,
operator, qualifier or effect, an IfExists on Null, a policy variable
(`${aws:username}`: not supported here) all raise PolicyError at load, so no
part of a policy is ever silently ignored.

Why not moto's own `moto.iam.access_control.IAMPolicy`: it returns DENIED for an
Allow statement whose condition fails (a failed condition must make a
statement not applicable, never an explicit deny, or a narrow Allow beside a
broad one would refuse what the broad one allows); it turns `*` into `.*` in a
regular expression without escaping the rest (`.`, `?`, `+` and brackets in an
ARN become regex syntax, and `?` is not "any one character"); it checks a
Principal only for `*` or the AWS key; and moto's services ask it about the
resource `*` for most calls (only S3 passes a bucket or object ARN), so a
policy scoped to a table or a queue can never be told apart from one granting
every resource.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

ALLOW, DENY = "Allow", "Deny"
ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicit deny", "implicit deny"

_STATEMENT_ELEMENTS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
                       "NotPrincipal", "Condition"}
_POLICY_ELEMENTS = {"Version", "Id", "Statement"}
_VERSIONS = {"2012-10-17", "2008-10-17"}
_PRINCIPAL_KINDS = {"AWS", "Service", "Federated", "CanonicalUser"}


class PolicyError(ValueError):
    """A policy this evaluator cannot read, or that IAM would refuse."""


# --- Wildcards ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """`*` any run of characters, `?` any one; everything else literal."""
    parts = (".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    return like(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike, and the Resource element: each of the six colon-separated parts
    compared on its own, the last one (which may itself hold colons) whole."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) < 6:
        # `arn:aws:sqs:*`: a trailing wildcard may stretch over the remaining parts.
        return pattern.endswith("*") and like(pattern, arn)
    if len(actual) < 6:
        return False
    return all(like(p, a) for p, a in zip(wanted, actual, strict=True))


# --- Conditions ----------------------------------------------------------------------------------


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise PolicyError(f"condition value {value!r} is not a string, number or boolean")


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _date(value: str) -> datetime | None:
    """ISO 8601, or seconds since the epoch, as IAM reads dates."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(parse: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Callable[[str, str], bool]:
    def compare(actual: str, wanted: str) -> bool:
        a, w = parse(actual), parse(wanted)
        return a is not None and w is not None and test(a, w)
    return compare


def _ip(actual: str, wanted: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(wanted, strict=False)
    except ValueError:
        return False


def _binary(actual: str, wanted: str) -> bool:
    try:
        return base64.b64decode(actual, validate=True) == base64.b64decode(wanted, validate=True)
    except ValueError:
        return False


# Each operator's test of one request value against one policy value, and
# whether the operator is a negation (true when no policy value matches).
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda a, w: a == w, False),
    "StringNotEquals": (lambda a, w: a == w, True),
    "StringEqualsIgnoreCase": (lambda a, w: a.casefold() == w.casefold(), False),
    "StringNotEqualsIgnoreCase": (lambda a, w: a.casefold() == w.casefold(), True),
    "StringLike": (lambda a, w: like(w, a), False),
    "StringNotLike": (lambda a, w: like(w, a), True),
    "NumericEquals": (_compare(_number, lambda a, w: a == w), False),
    "NumericNotEquals": (_compare(_number, lambda a, w: a == w), True),
    "NumericLessThan": (_compare(_number, lambda a, w: a < w), False),
    "NumericLessThanEquals": (_compare(_number, lambda a, w: a <= w), False),
    "NumericGreaterThan": (_compare(_number, lambda a, w: a > w), False),
    "NumericGreaterThanEquals": (_compare(_number, lambda a, w: a >= w), False),
    "DateEquals": (_compare(_date, lambda a, w: a == w), False),
    "DateNotEquals": (_compare(_date, lambda a, w: a == w), True),
    "DateLessThan": (_compare(_date, lambda a, w: a < w), False),
    "DateLessThanEquals": (_compare(_date, lambda a, w: a <= w), False),
    "DateGreaterThan": (_compare(_date, lambda a, w: a > w), False),
    "DateGreaterThanEquals": (_compare(_date, lambda a, w: a >= w), False),
    "Bool": (lambda a, w: a.lower() == w.lower(), False),
    "BinaryEquals": (_binary, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
    # ArnEquals and ArnLike behave alike: both take wildcards, part by part.
    "ArnEquals": (lambda a, w: arn_matches(w, a), False),
    "ArnLike": (lambda a, w: arn_matches(w, a), False),
    "ArnNotEquals": (lambda a, w: arn_matches(w, a), True),
    "ArnNotLike": (lambda a, w: arn_matches(w, a), True),
}


@dataclass(frozen=True)
class Condition:
    """One `"Operator": {"key": values}` test, as written."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    key: str  # lower-cased: condition keys are case-insensitive
    values: tuple[str, ...]
    base: str = field(compare=False, default="")
    qualifier: str | None = field(compare=False, default=None)  # "ForAnyValue" / "ForAllValues"
    if_exists: bool = field(compare=False, default=False)

    @classmethod
    def parse(cls, operator: str, key: str, values: Any) -> Condition:
        qualifier, _, base = operator.rpartition(":")
        if qualifier and qualifier not in ("ForAnyValue", "ForAllValues"):
            raise PolicyError(f"unknown condition set operator {qualifier!r} in {operator!r}")
        if_exists = base.endswith("IfExists")
        if if_exists:
            base = base[: -len("IfExists")]
        if base == "Null":
            if if_exists:
                raise PolicyError("Null cannot take IfExists")
        elif base not in _OPERATORS:
            raise PolicyError(f"unknown condition operator {operator!r}")
        listed = values if isinstance(values, list) else [values]
        if not listed:
            raise PolicyError(f"{operator} {key}: no values")
        strings = tuple(_string(value) for value in listed)
        if base == "Null" and any(value.lower() not in ("true", "false") for value in strings):
            raise PolicyError(f"Null {key}: values must be true or false")
        if base == "Bool" and any(value.lower() not in ("true", "false") for value in strings):
            raise PolicyError(f"Bool {key}: values must be true or false")
        _no_variables(strings, f"condition {operator} {key}")
        return cls(operator, key.lower(), strings, base, qualifier or None, if_exists)

    def holds(self, context: Mapping[str, list[str]]) -> bool:
        """`context` maps lower-cased keys to their values (a list, even for one)."""
        present = self.key in context
        actual = context.get(self.key, [])
        if self.base == "Null":
            # "true": the key must be absent; "false": present (and not empty).
            absent = not present or not actual
            return any(absent == (wanted.lower() == "true") for wanted in self.values)
        if not present or not actual:
            if self.if_exists:
                return True
            if self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            # A negated operator holds for a key the request lacks; any other does not.
            return _OPERATORS[self.base][1]
        test, negated = _OPERATORS[self.base]

        def one(value: str) -> bool:
            matched = any(test(value, wanted) for wanted in self.values)
            return not matched if negated else matched

        if self.qualifier == "ForAllValues":
            return all(one(value) for value in actual)
        if self.qualifier == "ForAnyValue":
            return any(one(value) for value in actual)
        # A single-valued operator on a key with several values: as ForAnyValue
        # for a positive operator, and "none of them matches" for a negation.
        return all(one(value) for value in actual) if negated else any(one(value) for value in actual)


def _no_variables(values: Iterable[str], where: str) -> None:
    for value in values:
        if "${" in value:
            raise PolicyError(f"{where}: policy variables such as {value!r} are not supported here")


# --- Principals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who makes a request: an IAM principal of an account, or an AWS service."""

    arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>, or arn:aws:iam::<account>:user/<name>
    account: str
    service: str | None = None  # "cloudfront.amazonaws.com" when a service calls

    @property
    def role_arn(self) -> str | None:
        """The role an assumed-role session belongs to."""
        match = re.fullmatch(r"arn:aws:sts::(\d{12}):assumed-role/([^/]+)/.+", self.arn)
        return f"arn:aws:iam::{match.group(1)}:role/{match.group(2)}" if match else None


def _principal_entries(element: Any, name: str) -> tuple[tuple[str, str], ...]:
    if element == "*":
        return (("*", "*"),)
    if not isinstance(element, Mapping) or not element:
        raise PolicyError(f"{name} must be \"*\" or an object of principal kinds")
    entries = []
    for kind, values in element.items():
        if kind not in _PRINCIPAL_KINDS:
            raise PolicyError(f"unknown principal kind {kind!r}")
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str):
                raise PolicyError(f"{name} {kind}: {value!r} is not a string")
            entries.append((kind, value))
    return tuple(entries)


def _principal_matches(entries: tuple[tuple[str, str], ...], caller: Caller) -> bool:
    for kind, value in entries:
        if kind == "*" or (kind == "AWS" and value == "*"):
            return True
        if kind == "Service" and caller.service is not None and value == caller.service:
            return True
        if kind == "AWS" and caller.service is None:
            if value in (caller.account, f"arn:aws:iam::{caller.account}:root"):
                return True
            if value in (caller.arn, caller.role_arn):
                return True
    return False


# --- Statements and policies --------------------------------------------------------------------


def _strings(value: Any, name: str) -> tuple[str, ...]:
    listed = value if isinstance(value, list) else [value]
    if not listed or not all(isinstance(item, str) and item for item in listed):
        raise PolicyError(f"{name} must be a non-empty string or list of strings, not {value!r}")
    return tuple(listed)


@dataclass(frozen=True)
class Request:
    caller: Caller
    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*" for actions that name none
    # Condition keys and their values (keys any case; a value or a list of values).
    context: Mapping[str, Any] = field(default_factory=dict)

    def condition_context(self) -> dict[str, list[str]]:
        context = {}
        for key, value in self.context.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            context[key.lower()] = [_string(item) for item in values]
        return context


@dataclass(frozen=True)
class Match:
    """The statement that decided, and (for Action/Resource lists) which entry matched."""

    policy: str
    statement: int  # index in the policy's Statement list
    sid: str | None
    effect: str
    action: str | None  # the Action entry that matched (None under NotAction)
    resource: int | None  # the index of the Resource entry that matched (None under NotResource)

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "statement": self.statement, "sid": self.sid, "effect": self.effect,
                "action": self.action, "resource": self.resource}


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    effect: str
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    principals: tuple[tuple[str, str], ...] | None
    not_principals: tuple[tuple[str, str], ...] | None
    conditions: tuple[Condition, ...]

    @classmethod
    def parse(cls, index: int, raw: Any, resource_policy: bool) -> Statement:
        if not isinstance(raw, Mapping):
            raise PolicyError(f"statement {index} is not an object")
        unknown = set(raw) - _STATEMENT_ELEMENTS
        if unknown:
            raise PolicyError(f"statement {index}: unknown element(s) {sorted(unknown)}")
        effect = raw.get("Effect")
        if effect not in (ALLOW, DENY):
            raise PolicyError(f"statement {index}: Effect must be Allow or Deny, not {effect!r}")
        if ("Action" in raw) == ("NotAction" in raw):
            raise PolicyError(f"statement {index}: exactly one of Action and NotAction")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise PolicyError(f"statement {index}: exactly one of Resource and NotResource")
        has_principal = "Principal" in raw or "NotPrincipal" in raw
        if resource_policy and ("Principal" in raw) == ("NotPrincipal" in raw):
            raise PolicyError(f"statement {index}: a resource policy names exactly one of Principal and NotPrincipal")
        if not resource_policy and has_principal:
            raise PolicyError(f"statement {index}: an identity policy names no Principal")
        actions = _strings(raw["Action"], "Action") if "Action" in raw else None
        not_actions = _strings(raw["NotAction"], "NotAction") if "NotAction" in raw else None
        for action in actions or not_actions:
            if action != "*" and not re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+", action):
                raise PolicyError(f"statement {index}: {action!r} is not an action (service:Name)")
        resources = _strings(raw["Resource"], "Resource") if "Resource" in raw else None
        not_resources = _strings(raw["NotResource"], "NotResource") if "NotResource" in raw else None
        _no_variables(resources or not_resources, f"statement {index} Resource")
        conditions = []
        raw_conditions = raw.get("Condition", {})
        if not isinstance(raw_conditions, Mapping):
            raise PolicyError(f"statement {index}: Condition must be an object")
        for operator, tests in raw_conditions.items():
            if not isinstance(tests, Mapping) or not tests:
                raise PolicyError(f"statement {index}: {operator} must map condition keys to values")
            conditions.extend(Condition.parse(operator, key, values) for key, values in tests.items())
        sid = raw.get("Sid")
        if sid is not None and not (isinstance(sid, str) and re.fullmatch(r"[A-Za-z0-9]*", sid)):
            raise PolicyError(f"statement {index}: Sid {sid!r} must be letters and digits")
        return cls(
            index=index, sid=sid, effect=effect, actions=actions, not_actions=not_actions,
            resources=resources, not_resources=not_resources,
            principals=_principal_entries(raw["Principal"], "Principal") if "Principal" in raw else None,
            not_principals=_principal_entries(raw["NotPrincipal"], "NotPrincipal") if "NotPrincipal" in raw else None,
            conditions=tuple(conditions),
        )

    def applies(self, request: Request, context: Mapping[str, list[str]], policy: str) -> Match | None:
        """The match when this statement applies to the request, else None."""
        matched_action: str | None = None
        if self.actions is not None:
            matched_action = next((a for a in self.actions if action_matches(a, request.action)), None)
            if matched_action is None:
                return None
        elif any(action_matches(a, request.action) for a in self.not_actions):
            return None
        matched_resource: int | None = None
        if self.resources is not None:
            matched_resource = next((i for i, r in enumerate(self.resources) if arn_matches(r, request.resource)),
                                    None)
            if matched_resource is None:
                return None
        elif any(arn_matches(r, request.resource) for r in self.not_resources):
            return None
        if self.principals is not None and not _principal_matches(self.principals, request.caller):
            return None
        if self.not_principals is not None and _principal_matches(self.not_principals, request.caller):
            return None
        if not all(condition.holds(context) for condition in self.conditions):
            return None
        return Match(policy, self.index, self.sid, self.effect, matched_action, matched_resource)


@dataclass(frozen=True)
class Policy:
    name: str  # how decisions name it: "identity:api", "bucket:uploads-local-files-123456789012"
    statements: tuple[Statement, ...]
    resource_policy: bool = False

    @classmethod
    def parse(cls, name: str, document: Mapping[str, Any], resource_policy: bool = False) -> Policy:
        if not isinstance(document, Mapping):
            raise PolicyError(f"{name}: a policy is a JSON object")
        unknown = set(document) - _POLICY_ELEMENTS
        if unknown:
            raise PolicyError(f"{name}: unknown element(s) {sorted(unknown)}")
        if document.get("Version") not in _VERSIONS:
            raise PolicyError(f"{name}: Version must be one of {sorted(_VERSIONS)}")
        raw = document.get("Statement")
        listed = raw if isinstance(raw, list) else [raw] if isinstance(raw, Mapping) else None
        if not listed:
            raise PolicyError(f"{name}: no Statement")
        try:
            statements = tuple(Statement.parse(i, s, resource_policy) for i, s in enumerate(listed))
        except PolicyError as error:
            raise PolicyError(f"{name}: {error}") from None
        return cls(name, statements, resource_policy)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY
    # Every applicable Allow statement when allowed; the applicable Deny statements when denied explicitly.
    matches: tuple[Match, ...] = ()


def evaluate(request: Request, identity: Sequence[Policy], resource: Policy | None = None) -> Decision:
    """The decision for one request. `resource` is the resource's own policy
    (a bucket policy), for a caller in the resource's account."""
    context = request.condition_context()
    denies, allows = [], []
    for policy in (*identity, *([resource] if resource else [])):
        for statement in policy.statements:
            found = statement.applies(request, context, policy.name)
            if found is not None:
                (denies if statement.effect == DENY else allows).append(found)
    if denies:
        return Decision(False, EXPLICIT_DENY, tuple(denies))
    if allows:
        return Decision(True, ALLOWED, tuple(allows))
    return Decision(False, IMPLICIT_DENY)


def denial_message(request: Request, decision: Decision) -> str:
    """AWS's wording for a refusal."""
    if decision.reason == EXPLICIT_DENY:
        kind = "resource-based" if any(m.policy.startswith("bucket:") for m in decision.matches) else "identity-based"
        why = f"with an explicit deny in a {kind} policy"
    else:
        why = f"because no identity-based policy allows the {request.action} action"
    return f"User: {request.caller.arn} is not authorized to perform: {request.action} on resource: " \
           f"{request.resource} {why}"
