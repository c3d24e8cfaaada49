"""The policy evaluator on its own, against IAM's documented logic
(local/iam/evaluate.py cites the pages): deny wins, a condition that does not
hold makes its statement not apply, wildcards are wildcards and nothing else
is, and a policy the evaluator cannot fully read is refused when loaded."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import permissions
from contract.names import Names
from local.iam.evaluate import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Caller,
    Policy,
    PolicyError,
    Request,
    arn_matches,
    evaluate,
    like,
)

ACCOUNT = "123456789012"
ROLE = Caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/uploads-local-api/uploads-local-api", ACCOUNT)
BUCKET = "arn:aws:s3:::uploads-local-files-123456789012"


def policy(*statements: dict, name: str = "identity:test", resource_policy: bool = False) -> Policy:
    return Policy.parse(name, {"Version": "2012-10-17", "Statement": list(statements)}, resource_policy)


def allow(action="s3:GetObject", resource=f"{BUCKET}/incoming/*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="s3:GetObject", resource=f"{BUCKET}/incoming/*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def ask(action="s3:GetObject", resource=f"{BUCKET}/incoming/a.txt", caller=ROLE, **context) -> Request:
    return Request(caller, action, resource, context)


# --- The decision ----------------------------------------------------------------------------


def test_nothing_applies_is_an_implicit_deny():
    decision = evaluate(ask(resource=f"{BUCKET}/thumbnails/a.webp"), [policy(allow())])
    assert (decision.allowed, decision.reason, decision.matches) == (False, IMPLICIT_DENY, ())


def test_an_allow_that_applies_allows_and_names_its_statement_and_entries():
    decision = evaluate(ask(action="s3:PutObject"), [policy(
        allow(),
        {"Sid": "Write", **allow(["s3:GetObjectVersion", "s3:PutObject"], [f"{BUCKET}/x/*", f"{BUCKET}/incoming/*"])})])
    assert decision.allowed and decision.reason == ALLOWED
    (match,) = decision.matches
    assert (match.statement, match.sid, match.action, match.resource) == (1, "Write", "s3:PutObject", 1)


@settings(max_examples=200)
@given(allows=st.integers(0, 3), denies=st.integers(1, 3), order=st.randoms())
def test_an_explicit_deny_wins_over_any_number_of_allows_in_any_order(allows, denies, order):
    statements = [allow()] * allows + [deny()] * denies
    order.shuffle(statements)
    split = order.randint(0, len(statements))
    decision = evaluate(ask(), [policy(*statements[:split]), policy(*statements[split:])] if 0 < split < len(statements)
                        else [policy(*statements)])
    assert (decision.allowed, decision.reason) == (False, EXPLICIT_DENY)


def test_a_condition_that_does_not_hold_makes_its_statement_not_apply_for_allow_and_deny_alike():
    narrow = allow(Condition={"StringEquals": {"s3:versionid": "v1"}})
    # moto's IAMPolicy would call this an explicit deny; IAM says the narrow Allow does not apply.
    assert evaluate(ask(), [policy(narrow, allow())]).allowed
    assert not evaluate(ask(), [policy(narrow)]).allowed
    assert evaluate(ask(), [policy(narrow)]).reason == IMPLICIT_DENY
    tls_only = deny("s3:*", [BUCKET, f"{BUCKET}/*"], Condition={"Bool": {"aws:SecureTransport": "false"}})
    assert evaluate(ask(**{"aws:SecureTransport": "true"}), [policy(allow(), tls_only)]).allowed
    assert evaluate(ask(**{"aws:SecureTransport": "false"}), [policy(allow(), tls_only)]).reason == EXPLICIT_DENY


def test_the_resource_policy_allows_in_the_same_account_and_its_deny_wins():
    bucket_allow = policy({**allow("s3:GetObject", f"{BUCKET}/*"),
                           "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/uploads-local-api"}},
                          name="bucket:b", resource_policy=True)
    assert evaluate(ask(), [], bucket_allow).allowed
    other = Caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/someone-else/s", ACCOUNT)
    assert not evaluate(ask(caller=other), [], bucket_allow).allowed
    bucket_deny = policy({**deny("s3:*", f"{BUCKET}/*"), "Principal": "*"}, name="bucket:b", resource_policy=True)
    decision = evaluate(ask(), [policy(allow())], bucket_deny)
    assert decision.reason == EXPLICIT_DENY and decision.matches[0].policy == "bucket:b"


def test_principals_name_an_account_a_role_its_sessions_or_a_service():
    def applies(principal, caller=ROLE) -> bool:
        return evaluate(ask(caller=caller), [], policy({**allow(), "Principal": principal}, name="bucket:b",
                                                       resource_policy=True)).allowed

    assert applies("*") and applies({"AWS": "*"}) and applies({"AWS": ACCOUNT})
    assert applies({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
    assert applies({"AWS": [f"arn:aws:iam::{ACCOUNT}:role/other", f"arn:aws:iam::{ACCOUNT}:role/uploads-local-api"]})
    assert not applies({"AWS": "999999999999"})
    assert not applies({"Service": "cloudfront.amazonaws.com"})
    assert applies({"Service": "cloudfront.amazonaws.com"}, Caller("cloudfront", ACCOUNT, "cloudfront.amazonaws.com"))
    not_me = evaluate(ask(), [], policy({**allow(), "NotPrincipal": {"AWS": ACCOUNT}}, name="bucket:b",
                                        resource_policy=True))
    assert not not_me.allowed


# --- Actions and resources --------------------------------------------------------------------


@pytest.mark.parametrize("pattern, action, matches", [
    ("s3:GetObject", "s3:GetObject", True),
    ("S3:getobject", "s3:GetObject", True),
    ("s3:Get*", "s3:GetObjectVersion", True),
    ("s3:*Object", "s3:PutObject", True),
    ("s3:GetObject?ersion", "s3:GetObjectVersion", True),
    ("s3:GetObject", "s3:GetObjectVersion", False),
    ("s3:?etObject", "s3:GetObjectX", False),
    ("*", "dynamodb:Query", True),
    ("dynamodb:*", "s3:GetObject", False),
])
def test_actions_match_case_insensitively_with_wildcards(pattern, action, matches):
    assert evaluate(ask(action=action, resource="*"), [policy(allow(pattern, "*"))]).allowed is matches


def test_not_action_and_not_resource_apply_to_everything_else():
    everything_but_delete = {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}
    assert evaluate(ask(), [policy(everything_but_delete)]).allowed
    assert not evaluate(ask(action="s3:DeleteObject"), [policy(everything_but_delete)]).allowed
    outside = {"Effect": "Deny", "Action": "s3:*", "NotResource": f"{BUCKET}/incoming/*"}
    assert evaluate(ask(), [policy(allow("s3:*", "*"), outside)]).allowed
    assert not evaluate(ask(resource=f"{BUCKET}/thumbnails/a"), [policy(allow("s3:*", "*"), outside)]).allowed


@pytest.mark.parametrize("pattern, arn, matches", [
    (f"{BUCKET}/incoming/*", f"{BUCKET}/incoming/o/f/a:b.txt", True),  # a key may hold colons
    (f"{BUCKET}/incoming/*", f"{BUCKET}/thumbnails/x", False),
    (f"{BUCKET}", f"{BUCKET}/incoming/a", False),
    ("arn:aws:dynamodb:us-east-1:123456789012:table/t", "arn:aws:dynamodb:us-east-1:123456789012:table/t/index/i",
     False),
    ("arn:aws:dynamodb:*:123456789012:table/t", "arn:aws:dynamodb:eu-west-1:123456789012:table/t", True),
    # A wildcard inside a segment does not reach across a colon...
    ("arn:aws:sqs:us-*:123456789012:q", "arn:aws:sqs:us-east-1:999:123456789012:q", False),
    # ...but a trailing one of a short pattern does.
    ("arn:aws:sqs:*", "arn:aws:sqs:us-east-1:123456789012:q", True),
    ("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*",
     "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:x", True),
    ("*", "anything at all", True),
    # Regex syntax in an ARN is literal: `.` is a dot, `+` a plus.
    ("arn:aws:s3:::a.b/c+d", "arn:aws:s3:::axb/cccd", False),
    ("arn:aws:s3:::a.b/c+d", "arn:aws:s3:::a.b/c+d", True),
])
def test_resources_match_segment_by_segment_with_literal_characters(pattern, arn, matches):
    assert arn_matches(pattern, arn) is matches


def _reference(pattern: str, value: str) -> bool:
    """IAM's string wildcards, spelled out: `*` any run, `?` any one character."""
    if not pattern:
        return not value
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return any(_reference(rest, value[i:]) for i in range(len(value) + 1))
    return bool(value) and (head == "?" or head == value[0]) and _reference(rest, value[1:])


@settings(max_examples=400)
@given(pattern=st.text(alphabet="ab.*?+()[]$^\\/:", max_size=8), value=st.text(alphabet="ab.+()[]$^\\/:", max_size=8))
def test_string_wildcards_are_star_and_question_mark_and_nothing_else(pattern, value):
    assert like(pattern, value) == _reference(pattern, value)


# --- Conditions ------------------------------------------------------------------------------------


def holds(condition: dict, **context) -> bool:
    return evaluate(ask(**context), [policy(allow(Condition=condition))]).allowed


def test_string_operators_and_their_negations_with_several_policy_values():
    assert holds({"StringEquals": {"s3:prefix": ["a/", "b/"]}}, **{"s3:prefix": "b/"})
    assert not holds({"StringEquals": {"s3:prefix": ["a/", "b/"]}}, **{"s3:prefix": "c/"})
    assert holds({"StringNotEquals": {"s3:prefix": ["a/", "b/"]}}, **{"s3:prefix": "c/"})
    assert not holds({"StringNotEquals": {"s3:prefix": ["a/", "b/"]}}, **{"s3:prefix": "a/"})
    assert holds({"StringLike": {"s3:prefix": ["incoming/*", "thumbnails/*"]}}, **{"s3:prefix": "thumbnails/o/f"})
    assert not holds({"StringLike": {"s3:prefix": "incoming/*"}}, **{"s3:prefix": "other/"})
    assert holds({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, **{"aws:username": "alice"})
    assert not holds({"StringEquals": {"aws:username": "ALICE"}}, **{"aws:username": "alice"})


def test_condition_keys_are_case_insensitive_and_values_are_not():
    assert holds({"StringEquals": {"S3:Prefix": "incoming/"}}, **{"s3:prefix": "incoming/"})
    assert not holds({"StringEquals": {"s3:prefix": "Incoming/"}}, **{"S3:PREFIX": "incoming/"})


def test_a_missing_key_fails_a_positive_operator_and_satisfies_a_negated_one_or_if_exists():
    assert not holds({"StringLike": {"s3:prefix": "incoming/*"}})
    assert holds({"StringNotLike": {"s3:prefix": "incoming/*"}})
    assert holds({"StringLikeIfExists": {"s3:prefix": "incoming/*"}})
    assert not holds({"StringLikeIfExists": {"s3:prefix": "incoming/*"}}, **{"s3:prefix": "other/"})
    assert not holds({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}})
    assert not holds({"Bool": {"aws:SecureTransport": "true"}})
    assert holds({"BoolIfExists": {"aws:SecureTransport": "true"}})


def test_null_tests_whether_a_key_is_present():
    assert holds({"Null": {"s3:prefix": "true"}})
    assert not holds({"Null": {"s3:prefix": "true"}}, **{"s3:prefix": "a"})
    assert holds({"Null": {"s3:prefix": "false"}}, **{"s3:prefix": "a"})
    assert not holds({"Null": {"s3:prefix": "false"}})


def test_set_operators_over_multivalued_keys():
    tags = {"aws:TagKeys": ["team", "cost"]}
    assert holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost", "env"]}}, **tags)
    assert not holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, **tags)
    assert holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}), "an absent key is vacuously all"
    assert holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["cost"]}}, **tags)
    assert not holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, **tags)
    assert not holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}})
    enclosing = {"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems",
                                                                             "TransactGetItems"]}}
    assert holds(enclosing, **{"dynamodb:EnclosingOperation": "TransactWriteItems"})
    assert not holds(enclosing)


def test_every_condition_of_a_statement_must_hold():
    both = {"StringEquals": {"s3:versionid": "v1", "s3:authType": "REST-QUERY-STRING"},
            "Bool": {"aws:SecureTransport": "true"}}
    context = {"s3:versionid": "v1", "s3:authType": "REST-QUERY-STRING", "aws:SecureTransport": "true"}
    assert holds(both, **context)
    for key in context:
        assert not holds(both, **{**context, key: "other"}), key


def test_numeric_date_ip_and_arn_operators():
    assert holds({"NumericLessThanEquals": {"s3:max-keys": "10"}}, **{"s3:max-keys": "10"})
    assert not holds({"NumericLessThan": {"s3:max-keys": "10"}}, **{"s3:max-keys": "10"})
    assert not holds({"NumericLessThan": {"s3:max-keys": "10"}}, **{"s3:max-keys": "ten"})
    assert holds({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
                 **{"aws:CurrentTime": "2026-06-01T12:00:00Z"})
    assert holds({"DateGreaterThan": {"aws:EpochTime": "1000"}}, **{"aws:EpochTime": "2000"})
    assert holds({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, **{"aws:SourceIp": "127.0.0.1"})
    assert holds({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, **{"aws:SourceIp": "127.0.0.1"})
    assert holds({"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::b*"}}, **{"aws:SourceArn": "arn:aws:s3:::bucket"})
    assert holds({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::x*"}}, **{"aws:SourceArn": "arn:aws:s3:::bucket"})


# --- Refused at load ----------------------------------------------------------------------------------


@pytest.mark.parametrize("statement, complaint", [
    (allow(Condition={"StringEqualz": {"s3:prefix": "a"}}), "unknown condition operator"),
    (allow(Condition={"ForSomeValues:StringEquals": {"s3:prefix": "a"}}), "unknown condition set operator"),
    (allow(Condition={"NullIfExists": {"s3:prefix": "true"}}), "Null cannot take IfExists"),
    (allow(Condition={"Bool": {"aws:SecureTransport": "yes"}}), "true or false"),
    (allow(resource=f"{BUCKET}/home/${{aws:username}}/*"), "policy variables"),
    (allow(Condition={"StringEquals": {"s3:prefix": "${aws:username}"}}), "policy variables"),
    ({**allow(), "Effect": "Permit"}, "Effect must be Allow or Deny"),
    ({**allow(), "Actions": ["s3:GetObject"]}, "unknown element"),
    ({"Effect": "Allow", "Resource": "*"}, "exactly one of Action and NotAction"),
    ({"Effect": "Allow", "Action": "s3:GetObject"}, "exactly one of Resource and NotResource"),
    ({**allow(), "Principal": "*"}, "an identity policy names no Principal"),
    (allow(action="GetObject"), "is not an action"),
])
def test_what_the_evaluator_cannot_read_fully_is_refused_when_loaded(statement, complaint):
    with pytest.raises(PolicyError, match=re.escape(complaint)):
        policy(statement)


def test_a_resource_policy_statement_needs_a_principal():
    with pytest.raises(PolicyError, match="Principal"):
        policy(allow(), name="bucket:b", resource_policy=True)


# --- The contract's own policies ---------------------------------------------------------------------


@pytest.mark.parametrize("kms", [None, "arn:aws:kms:eu-west-1:123456789012:key/k"])
def test_every_policy_of_the_contract_loads(kms):
    names = Names("local")
    for name, template in {**permissions.ROLES, permissions.ONCALL: permissions.OPERATOR}.items():
        values = permissions.arns(names, "us-east-1", ACCOUNT, function=names.function(name), kms_key_arn=kms)
        loaded = Policy.parse(f"identity:{name}", permissions.document(permissions.render(template, values)))
        assert {s.sid for s in loaded.statements} == {s["Sid"] for s in permissions.render(template, values)}
        if kms is None:
            assert not any(s.sid in ("UseTheKeyThroughS3", "DecryptCursorSecret") for s in loaded.statements)
    for template in (permissions.upload_bucket_policy(True), permissions.upload_bucket_policy(False),
                     permissions.SITE_BUCKET_POLICY):
        values = {**permissions.arns(names, "us-east-1", ACCOUNT), permissions.DISTRIBUTION: "arn:aws:cloudfront::1:d"}
        Policy.parse("bucket:b", permissions.document(permissions.render(template, values)), resource_policy=True)


def test_rendering_needs_every_value_but_leaves_out_a_missing_kms_key():
    with pytest.raises(KeyError, match="bucket"):
        permissions.render(permissions.upload_bucket_policy(False), {})
    values = permissions.arns(Names("local"), "us-east-1", ACCOUNT, function="f")
    rendered = permissions.render(permissions.API, values)
    assert "DecryptCursorSecret" not in {s["Sid"] for s in rendered}
    with pytest.raises(KeyError, match="table"):
        permissions.render(permissions.API, {**values, permissions.TABLE: None})
