"""The local stack's webhooks and AWS's agree: the real `__main__.py` under
mocks with `uploads:webhooks`, and a local stack of the same name with the
same endpoints (their URLs aside: the local ones are plain HTTP on loopback)
and the deployed delivery settings, compared on what both build from
`contract/`: the delivery queues, the rules and their targets' input, the
delivery function and its role's policy. The local side is read back from
moto and the local IAM, not from the code that asked for it."""

from __future__ import annotations

import json

import pytest

from contract import functions, permissions
from contract.events import DETAIL_TYPES
from contract.names import Names
from contract.webhooks import (
    DELIVERY,
    ENV_WEBHOOK_DELIVERY,
    ENV_WEBHOOK_ENDPOINTS,
    WebhookEndpoint,
    parse_endpoints_variable,
)
from local.iam.authority import WEBHOOKS as WEBHOOKS_PRINCIPAL
from local.iam.evaluate import Policy
from local.runtime import ACCOUNT_ID
from local.stack import REGION, LocalStack
from tests.infra.harness import EPHEMERAL_STACK, WEBHOOK_ENDPOINTS, WEBHOOKS, attached, document, one

NAMES = Names(EPHEMERAL_STACK)
ENDPOINTS = tuple(WebhookEndpoint(e["name"], "http://127.0.0.1:9/", e["secretParameter"],
                                  tuple(e.get("detailTypes", DETAIL_TYPES))) for e in WEBHOOK_ENDPOINTS)


@pytest.fixture(scope="module")
def deployed(stacks) -> dict:
    return stacks[WEBHOOKS]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    stack = LocalStack(state_dir=tmp_path_factory.mktemp("webhook-parity"), stack=EPHEMERAL_STACK,
                       delivery=DELIVERY, webhooks=ENDPOINTS)
    with stack as running:
        # Nothing is delivered here; idle pollers would only hold the stop for a long poll.
        running.mapping.disable()
        running.deliveries.disable()
        yield running


def test_the_delivery_queues_have_the_same_names_timings_encryption_and_redrive(deployed, local):
    sqs = local.client("sqs")
    for url in (local.outputs["webhookQueueUrl"], local.outputs["webhookDeadLetterQueueUrl"]):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        name = attributes["QueueArn"].rsplit(":", 1)[1]
        inputs = one(deployed, "aws:sqs/queue:Queue", name=name)["inputs"]
        assert int(attributes["MessageRetentionPeriod"]) == inputs["messageRetentionSeconds"], name
        assert (attributes.get("SqsManagedSseEnabled") == "true") == inputs["sqsManagedSseEnabled"], name
        if "redrivePolicy" in inputs:
            assert int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"]) == \
                json.loads(inputs["redrivePolicy"])["maxReceiveCount"]
            assert int(attributes["VisibilityTimeout"]) == inputs["visibilityTimeoutSeconds"]
            assert int(attributes["ReceiveMessageWaitTimeSeconds"]) == inputs["receiveWaitTimeSeconds"]


def test_the_rules_match_the_same_events_and_wrap_them_the_same_way(deployed, local):
    events = local.events()
    for endpoint in ENDPOINTS:
        name = NAMES.webhook_rule(endpoint.name)
        rule = one(deployed, "aws:cloudwatch/eventRule:EventRule", name=name)
        described = events.describe_rule(Name=name, EventBusName=NAMES.event_bus)
        assert json.loads(described["EventPattern"]) == json.loads(rule["inputs"]["eventPattern"])
        [target] = events.list_targets_by_rule(Rule=name, EventBusName=NAMES.event_bus)["Targets"]
        deployed_target = attached(deployed, "aws:cloudwatch/eventTarget:EventTarget", rule, "rule")["inputs"]
        assert target["InputTransformer"]["InputTemplate"] == deployed_target["inputTransformer"]["inputTemplate"]
        assert target["Arn"].rsplit(":", 1)[1] == deployed_target["arn"].rsplit(":", 1)[1] == NAMES.webhook_queue


def test_the_delivery_function_has_the_same_spec_and_is_told_the_same_endpoints(deployed, local):
    spec = local.webhooks_spec()
    inputs = one(deployed, "aws:lambda/function:Function", name=spec.name)["inputs"]
    assert (spec.handler, spec.timeout_s, spec.memory_mb) == (inputs["handler"], inputs["timeout"],
                                                              inputs["memorySize"])
    variables = inputs["environment"]["variables"]
    assert spec.environment[ENV_WEBHOOK_DELIVERY] == variables[ENV_WEBHOOK_DELIVERY]
    assert spec.environment[functions.ENV_STACK] == variables[functions.ENV_STACK]

    def told(value: str) -> dict:
        return {name: e.secret_parameter for name, e in parse_endpoints_variable(value).items()}

    assert told(spec.environment[ENV_WEBHOOK_ENDPOINTS]) == told(variables[ENV_WEBHOOK_ENDPOINTS])


def test_the_policy_the_local_stack_enforces_on_the_function_is_the_one_deployed(deployed, local):
    region, function = deployed["outputs"]["region"], NAMES.webhooks_function
    statements = permissions.webhook_delivery([e.secret_parameter for e in ENDPOINTS])
    role = one(deployed, "aws:iam/role:Role", name=function)
    assert document(attached(deployed, "aws:iam/rolePolicy:RolePolicy", role, "role")) == permissions.document(
        permissions.render(statements, permissions.arns(NAMES, region, ACCOUNT_ID, function=function)))
    enforced = permissions.document(permissions.render(
        statements, permissions.arns(NAMES, REGION, ACCOUNT_ID, function=function)))
    assert local.iam.named(WEBHOOKS_PRINCIPAL).policies == (Policy.parse(f"identity:{WEBHOOKS_PRINCIPAL}",
                                                                          enforced),)
