"""The policy pack's rules over the mocked program: the real stacks pass,
and each deliberately weakened resource trips exactly its rule."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, StackValidationArgs

from policy.rules import RULES, policies
from tests.infra.harness import SCANNING, WEBHOOKS, of_type, one


def policy_resources(stack: dict) -> list[PolicyResource]:
    """What the policy engine hands a stack validation, built from the mocks' record."""
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    by_urn = {
        record["urn"]: PolicyResource(record["type"], record["inputs"], record["urn"], record["name"], options,
                                      None, None, [], {})
        for record in stack["resources"]
    }
    for record in stack["resources"]:
        resource = by_urn[record["urn"]]
        resource.parent = by_urn.get(record["parent"])
        resource.dependencies = [by_urn[urn] for urn in record["dependsOn"] if urn in by_urn]
        resource.property_dependencies = {
            prop: [by_urn[urn] for urn in urns if urn in by_urn]
            for prop, urns in record["propertyDependencies"].items()
        }
    return list(by_urn.values())


def violations(stack: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    args = StackValidationArgs(policy_resources(stack))
    for policy in policies():
        policy.validate(args, lambda message, urn=None, name=policy.name: found.setdefault(name, []).append(message))
    return found


def test_every_rule_becomes_a_policy():
    assert [policy.name for policy in policies()] == list(RULES)


def test_the_real_program_has_no_violations(stack):
    assert violations(stack) == {}


def _set(token: str, prop: str, value, **match) -> Callable[[dict], None]:
    def mutate(stack: dict) -> None:
        target = one(stack, token, **match) if match else of_type(stack, token)[0]
        target["inputs"][prop] = value
    return mutate


def _widen_role_policy(action: str, resource: str) -> Callable[[dict], None]:
    def mutate(stack: dict) -> None:
        policy = of_type(stack, "aws:iam/rolePolicy:RolePolicy")[0]
        document = json.loads(policy["inputs"]["policy"])
        document["Statement"].append({"Effect": "Allow", "Action": [action], "Resource": [resource]})
        policy["inputs"]["policy"] = json.dumps(document)
    return mutate


def _drop_explicit_dependency(stack: dict) -> None:
    notification = one(stack, "aws:s3/bucketNotification:BucketNotification")
    queue_policy = one(stack, "aws:sqs/queuePolicy:QueuePolicy")
    notification["dependsOn"].remove(queue_policy["urn"])


def _keep_only_tls_free_statements(stack: dict) -> None:
    policy = of_type(stack, "aws:s3/bucketPolicy:BucketPolicy")[0]
    document = json.loads(policy["inputs"]["policy"])
    document["Statement"] = document["Statement"][1:]
    policy["inputs"]["policy"] = json.dumps(document)


def _lower_max_receive_count(stack: dict) -> None:
    queue = next(q for q in of_type(stack, "aws:sqs/queue:Queue") if "redrivePolicy" in q["inputs"])
    queue["inputs"]["redrivePolicy"] = json.dumps({**json.loads(queue["inputs"]["redrivePolicy"]),
                                                   "maxReceiveCount": 2})


def _drop_log_target(stack: dict) -> None:
    target = next(t for t in of_type(stack, "aws:cloudwatch/eventTarget:EventTarget")
                  if t["inputs"]["arn"].startswith("arn:aws:logs:"))
    stack["resources"].remove(target)


def _allow_plain_http(stack: dict) -> None:
    distribution = one(stack, "aws:cloudfront/distribution:Distribution")
    distribution["inputs"]["defaultCacheBehavior"]["viewerProtocolPolicy"] = "allow-all"


WEAKENINGS = {
    "public policy allowed": ("bucket-public-access-blocked", _set(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "blockPublicPolicy", False)),
    "ACLs enabled": ("bucket-owner-enforced", _set(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "rule", {"objectOwnership": "ObjectWriter"})),
    "no default encryption": ("bucket-encrypted", _set(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "rules", [])),
    "plain HTTP allowed": ("bucket-tls-only", _keep_only_tls_free_statements),
    "unencrypted queue": ("queue-encrypted-with-redrive", _set("aws:sqs/queue:Queue", "sqsManagedSseEnabled", False)),
    "too few receives": ("queue-encrypted-with-redrive", _lower_max_receive_count),
    "x86 function": ("function-hardened", _set("aws:lambda/function:Function", "architectures", ["x86_64"])),
    "logs kept forever": ("log-retention", _set("aws:cloudwatch/logGroup:LogGroup", "retentionInDays", None)),
    "wildcard action": ("iam-least-privilege", _widen_role_policy("s3:*", "arn:aws:s3:::uploads-dev-files")),
    "wildcard resource": ("iam-least-privilege", _widen_role_policy("dynamodb:GetItem", "*")),
    "whole-batch failures": ("sqs-partial-batch", _set(
        "aws:lambda/eventSourceMapping:EventSourceMapping", "functionResponseTypes", [], batchSize=10)),
    "stream retried forever": ("stream-failures-bounded", _set(
        "aws:lambda/eventSourceMapping:EventSourceMapping", "maximumRetryAttempts", -1, batchSize=100)),
    "stream gives up into nothing": ("stream-failures-bounded", _set(
        "aws:lambda/eventSourceMapping:EventSourceMapping", "destinationConfig", None, batchSize=100)),
    "bus events kept nowhere": ("bus-events-kept", _drop_log_target),
    "notification races the queue policy": ("notification-after-queue-policy", _drop_explicit_dependency),
    "no point-in-time recovery": ("table-recoverable", _set(
        "aws:dynamodb/table:Table", "pointInTimeRecovery", {"enabled": False})),
    "open route": ("route-authorized", _set("aws:apigatewayv2/route:Route", "authorizationType", "NONE")),
    "unthrottled stage": ("stage-throttled-logged", _set("aws:apigatewayv2/stage:Stage", "defaultRouteSettings", {})),
    "access logs outside /aws/vendedlogs/": ("access-logs-vended", _set(
        "aws:cloudwatch/logGroup:LogGroup", "name", "/aws/apigateway/uploads-dev",
        name="/aws/vendedlogs/apigateway/uploads-dev")),
    "access logs to a literal ARN outside /aws/vendedlogs/": ("access-logs-vended", _set(
        "aws:apigatewayv2/stage:Stage", "accessLogSettings",
        {"destinationArn": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/apigateway/elsewhere",
         "format": "{}"})),
    "CDN serves HTTP": ("cdn-https-headers", _allow_plain_http),
    "alarm never says OK": ("alarm-actionable", _set("aws:cloudwatch/metricAlarm:MetricAlarm", "okActions", [])),
    "client with a secret": ("public-client-pkce", _set(
        "aws:cognito/userPoolClient:UserPoolClient", "generateSecret", True)),
    "plaintext parameter": ("parameter-encrypted", _set("aws:ssm/parameter:Parameter", "type", "String")),
}


@pytest.mark.parametrize("weakening", WEAKENINGS)
def test_a_weakened_resource_trips_exactly_its_rule(stacks, weakening):
    rule, mutate = WEAKENINGS[weakening]
    stack = copy.deepcopy(stacks["dev"])
    mutate(stack)
    found = violations(stack)
    assert list(found) == [rule], found
    assert len(found[rule]) == 1


def _drop_bucket_statement(sid: str) -> Callable[[dict], None]:
    def mutate(stack: dict) -> None:
        policy = next(policy for policy in of_type(stack, "aws:s3/bucketPolicy:BucketPolicy")
                      if sid in policy["inputs"]["policy"])
        document = json.loads(policy["inputs"]["policy"])
        document["Statement"] = [statement for statement in document["Statement"] if statement["Sid"] != sid]
        policy["inputs"]["policy"] = json.dumps(document)
    return mutate


# On a stack with uploads:malwareScan on: each of the bucket policy's scan statements, and the plan's tagging.
SCAN_WEAKENINGS = {
    "plan does not tag": ("scan-plan-tags", _set("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",
                                                 "actions", [{"taggings": [{"status": "DISABLED"}]}])),
    "unscanned objects readable": ("scan-reads-need-clean-tag", _drop_bucket_statement("DenyReadsUnlessScannedClean")),
    "anyone may set the scan tag": ("scan-tag-set-by-plan-only",
                                    _drop_bucket_statement("DenyScanTagChangesButThePlans")),
    "uploads may carry the scan tag": ("scan-tag-not-uploadable",
                                       _drop_bucket_statement("DenyUploadsCarryingTheScanTag")),
}


def test_a_scanning_stack_has_no_violations(stacks):
    assert violations(stacks[SCANNING]) == {}


@pytest.mark.parametrize("weakening", SCAN_WEAKENINGS)
def test_a_weakened_scanning_stack_trips_exactly_its_rule(stacks, weakening):
    rule, mutate = SCAN_WEAKENINGS[weakening]
    stack = copy.deepcopy(stacks[SCANNING])
    mutate(stack)
    found = violations(stack)
    assert list(found) == [rule], found
    assert len(found[rule]) == 1


def _webhook_variable(change: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(stack: dict) -> None:
        function = one(stack, "aws:lambda/function:Function", name="uploads-dev-alice-webhooks")
        variables = function["inputs"]["environment"]["variables"]
        endpoints = json.loads(variables["WEBHOOK_ENDPOINTS"])
        change(endpoints)
        variables["WEBHOOK_ENDPOINTS"] = json.dumps(endpoints)
    return mutate


def _webhook_role_statements(change: Callable[[list[dict]], None]) -> Callable[[dict], None]:
    def mutate(stack: dict) -> None:
        role = one(stack, "aws:iam/role:Role", name="uploads-dev-alice-webhooks")
        policy = next(p for p in of_type(stack, "aws:iam/rolePolicy:RolePolicy")
                      if role["urn"] in p["propertyDependencies"].get("role", []))
        document = json.loads(policy["inputs"]["policy"])
        change(document["Statement"])
        policy["inputs"]["policy"] = json.dumps(document)
    return mutate


def _read_every_parameter(statements: list[dict]) -> None:
    statement = next(s for s in statements if s["Sid"] == "ReadEndpointSecrets")
    statement["Resource"] = ["arn:aws:ssm:eu-west-1:123456789012:parameter/*"]


# On a stack with uploads:webhooks: an endpoint's URL, and what the delivery function may read.
WEBHOOK_WEAKENINGS = {
    "plain-HTTP endpoint": ("webhook-https-only", _webhook_variable(
        lambda endpoints: endpoints["failures"].update(url="http://alerts.integrator.net/in"))),
    "secrets beyond the endpoints'": ("webhook-secrets-scoped", _webhook_role_statements(_read_every_parameter)),
    "a secret no endpoint names": ("webhook-secrets-scoped", _webhook_variable(
        lambda endpoints: endpoints.pop("failures"))),
    "another team's Secrets Manager secret": ("webhook-secrets-scoped", _webhook_role_statements(
        lambda statements: statements.append({
            "Sid": "ReadEndpointSecretsInSecretsManager", "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:payments/api-key-Zz9Yy8"]}))),
    "unencrypted delivery queue": ("queue-encrypted-with-redrive", _set(
        "aws:sqs/queue:Queue", "sqsManagedSseEnabled", False, name="uploads-dev-alice-webhooks")),
    "delivery queue without a DLQ": ("queue-encrypted-with-redrive", lambda stack: one(
        stack, "aws:sqs/queue:Queue", name="uploads-dev-alice-webhooks")["inputs"].pop("redrivePolicy")),
}


def test_a_webhooks_stack_has_no_violations(stacks):
    assert violations(stacks[WEBHOOKS]) == {}


@pytest.mark.parametrize("weakening", WEBHOOK_WEAKENINGS)
def test_a_weakened_webhooks_stack_trips_exactly_its_rule(stacks, weakening):
    rule, mutate = WEBHOOK_WEAKENINGS[weakening]
    stack = copy.deepcopy(stacks[WEBHOOKS])
    mutate(stack)
    found = violations(stack)
    assert list(found) == [rule], found
    assert len(found[rule]) == 1


def test_every_rule_is_exercised_by_a_weakening():
    assert {rule for rule, _ in (*WEAKENINGS.values(), *SCAN_WEAKENINGS.values(),
                                 *WEBHOOK_WEAKENINGS.values())} == set(RULES)
