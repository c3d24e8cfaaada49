"""The upload bucket's tag-based release (permissions.scan_release), as IAM
evaluates it: each statement refuses what it names and nothing else."""

from __future__ import annotations

import pytest

from contract import permissions
from contract.names import Names
from contract.scan import TAG_KEY
from local.iam.evaluate import Caller, Policy, Request, evaluate

ACCOUNT = "123456789012"
NAMES = Names("local")
VALUES = permissions.arns(NAMES, "us-east-1", ACCOUNT)
BUCKET_POLICY = Policy.parse("bucket:b", permissions.document(permissions.render(
    permissions.upload_bucket_policy(True), VALUES)), resource_policy=True)
ALLOW_ALL = Policy.parse("identity:all", {"Version": "2012-10-17", "Statement": [
    {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
OBJECT = f"{VALUES[permissions.BUCKET]}/incoming/alice/f1/report.txt"
THUMBNAIL = f"{VALUES[permissions.BUCKET]}/thumbnails/alice/f1/1.webp"


def role(name: str) -> Caller:
    return Caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{name}", ACCOUNT)


API, WORKER, PLAN = role(NAMES.api_function), role(NAMES.ingest_function), role(NAMES.malware_scan_role)


def decide(caller: Caller, action: str, resource: str = OBJECT, **context) -> tuple[bool, set[str]]:
    context = {"aws:SecureTransport": "true", "aws:PrincipalArn": caller.role_arn, **context}
    decision = evaluate(Request(caller, action, resource, context),
                        [ALLOW_ALL], BUCKET_POLICY)
    return decision.allowed, {match.sid for match in decision.matches if match.effect == "Deny"}


def existing(value: str) -> dict[str, str]:
    return {f"s3:ExistingObjectTag/{TAG_KEY}": value}


@pytest.mark.parametrize("tags", [{}, existing("THREATS_FOUND"), existing("UNSUPPORTED"), existing("FAILED"),
                                  existing("ACCESS_DENIED")])
@pytest.mark.parametrize("action", ["s3:GetObject", "s3:GetObjectVersion"])
def test_an_object_not_scanned_clean_is_read_by_nobody_but_the_worker_and_the_plan(tags, action):
    assert decide(API, action, **tags) == (False, {"DenyReadsUnlessScannedClean"})
    assert decide(WORKER, action, **tags) == (True, set())
    assert decide(PLAN, action, **tags) == (True, set())


def test_a_clean_object_is_read_and_the_deny_stays_on_incoming():
    assert decide(API, "s3:GetObject", **existing("NO_THREATS_FOUND")) == (True, set())
    assert decide(API, "s3:GetObject", THUMBNAIL) == (True, set())


@pytest.mark.parametrize("action", ["s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
                                    "s3:DeleteObjectVersionTagging"])
def test_only_the_plan_changes_an_incoming_object_s_tags(action):
    assert decide(API, action) == (False, {"DenyScanTagChangesButThePlans"})
    assert decide(WORKER, action) == (False, {"DenyScanTagChangesButThePlans"})
    assert decide(PLAN, action) == (True, set())


def test_no_upload_carries_the_scan_tag():
    carrying = {f"s3:RequestObjectTag/{TAG_KEY}": "NO_THREATS_FOUND", "s3:RequestObjectTagKeys": [TAG_KEY]}
    assert decide(API, "s3:PutObject", **carrying) == (False, {"DenyUploadsCarryingTheScanTag"})
    assert decide(API, "s3:PutObject", **{"s3:RequestObjectTag/project": "x"}) == (True, set())
    assert decide(API, "s3:PutObject") == (True, set())


def test_without_scanning_the_bucket_policy_only_denies_plain_http():
    sids = {statement["Sid"] for statement in permissions.upload_bucket_policy(False)}
    assert sids == {"DenyInsecureTransport"}
