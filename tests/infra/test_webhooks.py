"""The real `__main__.py` with `uploads:webhooks` set, under mocks: the bus,
a rule per endpoint, the encrypted delivery queue and its DLQ, and a delivery
function that may read its endpoints' secrets and nothing else; and the
config's refusals."""

from __future__ import annotations

import json

import pytest

from contract.alarms import alarms
from contract.events import DETAIL_TYPES, EVENT_SOURCE
from contract.ingest import INGEST
from contract.names import Names
from contract.webhooks import DELIVERY, ENV_WEBHOOK_ENDPOINTS, parse_endpoints_variable
from tests.infra.harness import (
    EPHEMERAL_CONFIG,
    EPHEMERAL_STACK,
    WEBHOOK_ENDPOINTS,
    WEBHOOKS,
    attached,
    document,
    of_type,
    one,
    run_program,
)

NAMES = Names(EPHEMERAL_STACK)
REGION, ACCOUNT = EPHEMERAL_CONFIG["aws:region"], "123456789012"


def configured(endpoints: list[dict]) -> dict[str, str]:
    return {**EPHEMERAL_CONFIG, "uploads:webhooks": json.dumps(endpoints)}


@pytest.fixture
def stack(stacks) -> dict:
    return stacks[WEBHOOKS]


def queue(stack: dict, name: str) -> dict:
    return one(stack, "aws:sqs/queue:Queue", name=name)


def test_the_delivery_queue_is_encrypted_and_dead_letters_after_the_schedule(stack):
    dlq, delivery = queue(stack, NAMES.webhook_dead_letter_queue), queue(stack, NAMES.webhook_queue)
    assert dlq["inputs"]["sqsManagedSseEnabled"] and delivery["inputs"]["sqsManagedSseEnabled"]
    redrive = json.loads(delivery["inputs"]["redrivePolicy"])
    assert redrive["maxReceiveCount"] == DELIVERY.max_receive_count
    assert redrive["deadLetterTargetArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAMES.webhook_dead_letter_queue}"
    assert delivery["inputs"]["visibilityTimeoutSeconds"] == DELIVERY.visibility_timeout_s
    # Retries span at least a day, and the queue keeps a message through all of them.
    assert sum(DELIVERY.schedule) >= 24 * 3600
    assert delivery["inputs"]["messageRetentionSeconds"] > DELIVERY.schedule_span_s
    assert stack["outputs"]["webhookDeadLetterQueueUrl"].endswith(NAMES.webhook_dead_letter_queue)


def test_each_endpoint_has_a_rule_on_the_stacks_bus_for_its_detail_types(stack):
    one(stack, "aws:cloudwatch/eventBus:EventBus", name=NAMES.event_bus)
    for endpoint in WEBHOOK_ENDPOINTS:
        rule = one(stack, "aws:cloudwatch/eventRule:EventRule", name=NAMES.webhook_rule(endpoint["name"]))
        assert rule["inputs"]["eventBusName"] == NAMES.event_bus
        assert json.loads(rule["inputs"]["eventPattern"]) == {
            "source": [EVENT_SOURCE], "detail-type": endpoint.get("detailTypes", list(DETAIL_TYPES))}
        target = attached(stack, "aws:cloudwatch/eventTarget:EventTarget", rule, "rule")
        assert target["inputs"]["arn"].endswith(f":{NAMES.webhook_queue}")
        template = target["inputs"]["inputTransformer"]["inputTemplate"]
        assert template == f'{{"endpoint": "{endpoint["name"]}", "event": <aws.events.event.json>}}'


def test_only_the_endpoints_rules_may_send_to_the_delivery_queue(stack):
    policy = document(attached(stack, "aws:sqs/queuePolicy:QueuePolicy", queue(stack, NAMES.webhook_queue),
                               "queueUrl"))
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    # A rule on a bus other than the default one is named under its bus in its ARN.
    assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAMES.event_bus}/{NAMES.webhook_rule(e['name'])}"
        for e in WEBHOOK_ENDPOINTS)


def test_the_delivery_function_reads_only_its_endpoints_secrets(stack):
    role = one(stack, "aws:iam/role:Role", name=NAMES.webhooks_function)
    statements = {s["Sid"]: s for s in
                  document(attached(stack, "aws:iam/rolePolicy:RolePolicy", role, "role"))["Statement"]}
    assert statements["ReadEndpointSecrets"]["Action"] == ["ssm:GetParameter"]
    assert sorted(statements["ReadEndpointSecrets"]["Resource"]) == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/integrator-failures",
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/integrator/hook",
    ]
    assert statements["ConsumeQueue"]["Resource"] == [f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAMES.webhook_queue}"]
    # No customer-managed key on this stack: no decrypt grant either.
    assert "DecryptEndpointSecrets" not in statements


def test_the_function_is_told_each_endpoint_and_reads_it_from_a_partial_batch_mapping(stack):
    function = one(stack, "aws:lambda/function:Function", name=NAMES.webhooks_function)
    told = parse_endpoints_variable(function["inputs"]["environment"]["variables"][ENV_WEBHOOK_ENDPOINTS])
    assert {name: (e.url, e.secret_parameter) for name, e in told.items()} == {
        e["name"]: (e["url"], e["secretParameter"]) for e in WEBHOOK_ENDPOINTS}
    mapping = attached(stack, "aws:lambda/eventSourceMapping:EventSourceMapping", function, "functionName")
    assert mapping["inputs"]["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["inputs"]["batchSize"] == DELIVERY.batch_size


def test_the_dead_lettered_alarm_exists_only_with_webhooks(stack):
    names = {alarm["inputs"]["name"] for alarm in of_type(stack, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert f"{NAMES.prefix}-webhooks-dead-lettered" in names
    signals = {spec.signal for spec in alarms(NAMES, INGEST, "api")}
    assert "webhooks-dead-lettered" not in signals


VAULT = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:integrator/audit-AbCdEf"


def test_a_secret_in_secrets_manager_is_read_by_its_arn_and_no_other(package, tmp_path):
    out = tmp_path / "out.json"
    audit = {"name": "audit", "url": "https://audit.integrator.net/", "secretParameter": VAULT}
    endpoints = [*WEBHOOK_ENDPOINTS, audit]
    completed = run_program(EPHEMERAL_STACK, configured(endpoints), out)
    assert completed.returncode == 0, completed.stderr
    stack = json.loads(out.read_text())
    role = one(stack, "aws:iam/role:Role", name=NAMES.webhooks_function)
    statements = {s["Sid"]: s for s in
                  document(attached(stack, "aws:iam/rolePolicy:RolePolicy", role, "role"))["Statement"]}
    assert statements["ReadEndpointSecretsInSecretsManager"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert statements["ReadEndpointSecretsInSecretsManager"]["Resource"] == [VAULT]
    assert VAULT not in statements["ReadEndpointSecrets"]["Resource"]


@pytest.mark.parametrize(("change", "message"), [
    ({"url": "http://hooks.integrator.net/"}, "uploads:webhooks[0].url: 'http://hooks.integrator.net/': must be an "
                                              "https:// URL"),
    ({"secretParameter": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "uploads:webhooks[0].secretParameter: holds "
                                                                    "the secret itself"),
    ({"detailTypes": ["File Exploded"]}, "uploads:webhooks[0].detailTypes: must be a non-empty list"),
    ({"name": "Search Index"}, "uploads:webhooks[0].name: 1-23 lowercase letters"),
    ({"secretParameter": VAULT.replace("eu-west-1", "us-east-1")}, "uploads:webhooks[0].secretParameter: the "
                                                                   "secret is in another region"),
    ({"secretParameter": "arn:aws:secretsmanager:eu-west-1:123456789012:secret"}, "uploads:webhooks[0]."
                                                                                  "secretParameter: must be"),
])
def test_a_bad_endpoint_fails_with_its_key(package, tmp_path, change, message):
    endpoint = {**WEBHOOK_ENDPOINTS[0], **change}
    completed = run_program(EPHEMERAL_STACK, configured([endpoint]), tmp_path / "out.json")
    assert completed.returncode != 0
    assert message in completed.stderr
