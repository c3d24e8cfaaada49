"""The local stack and AWS agree: the real `__main__.py` under mocks on one
side, a running local stack of the same name and ingest settings on the other,
compared on what both build from `contract/`: function specs, the table,
the queues, the user pool, the roles' and the bucket's policies, the stack
outputs and the dashboard's config.json.

The local stack's region and clocks are its own business, so the local stack
here runs with the deployed stack's ingest settings; everything it answers is
read back from moto, not from the code that asked for it."""

from __future__ import annotations

import dataclasses
import json
import urllib.request

import pytest

from contract import functions, permissions
from contract.events import STREAM
from contract.ingest import INGEST
from contract.names import Names
from contract.outputs import DashboardConfig, DeployedOutputs, LocalOutputs, StackOutputs
from local.cognito import LOCAL_AUTH_FLOW
from local.iam.evaluate import Policy
from local.runtime import ACCOUNT_ID
from local.stack import REGION, LocalStack
from tests.infra.harness import attached, document, of_type, one

STACK = "dev"
# What only the emulator needs: where it is, and credentials Lambda's role would give.
LOCAL_ONLY_VARIABLES = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


@pytest.fixture(scope="module")
def deployed(stacks) -> dict:
    return stacks[STACK]


@pytest.fixture(scope="module")
def local(deployed, tmp_path_factory):
    worker = one(deployed, "aws:lambda/function:Function", name=Names(STACK).ingest_function)
    ingest = dataclasses.replace(INGEST, reserved_concurrency=worker["inputs"].get("reservedConcurrentExecutions"))
    with LocalStack(state_dir=tmp_path_factory.mktemp("parity"), stack=STACK, ingest=ingest,
                    streams=STREAM) as running:
        # Nothing is uploaded here; an idle poller would only hold the stop for a long poll.
        running.mapping.disable()
        yield running


def test_every_function_has_the_same_name_handler_timeout_memory_and_environment(deployed, local):
    for spec in (local.worker_spec(), local.api_spec(), local.events_spec()):
        inputs = one(deployed, "aws:lambda/function:Function", name=spec.name)["inputs"]
        assert (spec.handler, spec.timeout_s, spec.memory_mb) == \
               (inputs["handler"], inputs["timeout"], inputs["memorySize"]), spec.name
        variables = inputs["environment"]["variables"]
        assert set(spec.environment) - LOCAL_ONLY_VARIABLES == set(variables), spec.name
        for name in {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL", functions.ENV_STACK,
                     functions.ENV_TABLE_NAME, functions.ENV_BUCKET_NAME, functions.ENV_EVENT_BUS,
                     *functions.QUOTA_VARIABLES} & set(variables):
            assert spec.environment[name] == variables[name], (spec.name, name)
    names = {inputs["name"] for inputs in (r["inputs"] for r in of_type(deployed, "aws:lambda/function:Function"))}
    assert names == {local.worker_spec().name, local.api_spec().name, local.events_spec().name}


def test_the_table_has_the_same_name_keys_indexes_and_expiry(deployed, local):
    table = one(deployed, "aws:dynamodb/table:Table")["inputs"]
    dynamodb = local.client("dynamodb")
    described = dynamodb.describe_table(TableName=local.outputs["tableName"])["Table"]

    def keys(schema, name="attributeName", kind="keyType") -> list[tuple[str, str]]:
        return [(key[name], key[kind]) for key in schema]

    assert described["TableName"] == table["name"]
    assert keys(described["KeySchema"], "AttributeName", "KeyType") == \
           [(table["hashKey"], "HASH"), (table["rangeKey"], "RANGE")]
    assert {(a["AttributeName"], a["AttributeType"]) for a in described["AttributeDefinitions"]} == \
           {(a["name"], a["type"]) for a in table["attributes"]}
    assert {index["IndexName"]: (keys(index["KeySchema"], "AttributeName", "KeyType"),
                                 index["Projection"]["ProjectionType"])
            for index in described["GlobalSecondaryIndexes"]} == \
           {index["name"]: (keys(index["keySchemas"]), index["projectionType"])
            for index in table["globalSecondaryIndexes"]}
    ttl = dynamodb.describe_time_to_live(TableName=described["TableName"])["TimeToLiveDescription"]
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"] == "ENABLED") == \
           (table["ttl"]["attributeName"], table["ttl"]["enabled"])
    assert described["BillingModeSummary"]["BillingMode"] == table["billingMode"]
    assert (described["StreamSpecification"]["StreamEnabled"], described["StreamSpecification"]["StreamViewType"]) \
        == (table["streamEnabled"], table["streamViewType"])


def test_the_queues_have_the_same_names_timings_and_redrive(deployed, local):
    sqs = local.client("sqs")
    queues = {queue["inputs"]["name"]: queue["inputs"] for queue in of_type(deployed, "aws:sqs/queue:Queue")}
    events_dlq = sqs.get_queue_url(QueueName=local.names.events_dead_letter_queue)["QueueUrl"]
    for url in (local.outputs["queueUrl"], local.outputs["deadLetterQueueUrl"], events_dlq):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        name = attributes["QueueArn"].rsplit(":", 1)[1]
        inputs = queues.pop(name)
        assert int(attributes["MessageRetentionPeriod"]) == inputs["messageRetentionSeconds"], name
        assert (attributes.get("SqsManagedSseEnabled") == "true") == inputs["sqsManagedSseEnabled"], name
        if "redrivePolicy" in inputs:
            deployed_redrive = json.loads(inputs["redrivePolicy"])
            local_redrive = json.loads(attributes["RedrivePolicy"])
            assert int(local_redrive["maxReceiveCount"]) == deployed_redrive["maxReceiveCount"]
            assert local_redrive["deadLetterTargetArn"].rsplit(":", 1)[1] == \
                   deployed_redrive["deadLetterTargetArn"].rsplit(":", 1)[1]
            assert int(attributes["VisibilityTimeout"]) == inputs["visibilityTimeoutSeconds"]
            assert int(attributes["ReceiveMessageWaitTimeSeconds"]) == inputs["receiveWaitTimeSeconds"]
    assert queues == {}, "deployed queues the local stack lacks"
    mapping = one(deployed, "aws:lambda/eventSourceMapping:EventSourceMapping", batchSize=local.ingest.batch_size,
                  functionName=f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:{local.names.ingest_function}")["inputs"]
    assert (local.ingest.batch_size, local.ingest.batching_window_s, local.ingest.maximum_concurrency) == \
           (mapping["batchSize"], mapping["maximumBatchingWindowInSeconds"],
            mapping["scalingConfig"]["maximumConcurrency"])


def test_the_table_stream_reaches_the_producer_with_the_same_mapping_and_bus(deployed, local):
    mapping = one(deployed, "aws:lambda/eventSourceMapping:EventSourceMapping",
                  functionName=f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:{local.names.events_function}")["inputs"]
    settings = local.stream_mapping.settings
    assert (settings.batch_size, settings.batching_window_s, settings.maximum_retry_attempts,
            settings.maximum_record_age_s, settings.bisect_on_error) == \
           (mapping["batchSize"], mapping["maximumBatchingWindowInSeconds"], mapping["maximumRetryAttempts"],
            mapping["maximumRecordAgeInSeconds"], mapping["bisectBatchOnFunctionError"])
    assert local.stream_mapping.destination_url.endswith("/" + mapping["destinationConfig"]["onFailure"][
        "destinationArn"].rsplit(":", 1)[1])
    events = local.client("events")
    bus = one(deployed, "aws:cloudwatch/eventBus:EventBus")["inputs"]
    assert events.describe_event_bus(Name=bus["name"])["Name"] == local.outputs["eventBusName"]
    rule = one(deployed, "aws:cloudwatch/eventRule:EventRule", name=local.names.event_log_rule)["inputs"]
    described = events.describe_rule(Name=rule["name"], EventBusName=bus["name"])
    assert json.loads(described["EventPattern"]) == json.loads(rule["eventPattern"])
    (target,) = events.list_targets_by_rule(Rule=rule["name"], EventBusName=bus["name"])["Targets"]
    deployed_target = one(deployed, "aws:cloudwatch/eventTarget:EventTarget", rule=rule["name"])["inputs"]
    assert target["Arn"].split(":log-group:")[1] == deployed_target["arn"].split(":log-group:")[1]


def test_the_user_pool_and_its_client_are_configured_alike(deployed, local):
    cognito = local.client("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=local.outputs["userPoolId"])["UserPool"]
    client = cognito.describe_user_pool_client(UserPoolId=pool["Id"],
                                               ClientId=local.outputs["userPoolClientId"])["UserPoolClient"]
    deployed_pool = one(deployed, "aws:cognito/userPool:UserPool")["inputs"]
    deployed_client = one(deployed, "aws:cognito/userPoolClient:UserPoolClient")["inputs"]

    assert pool["Name"] == deployed_pool["name"]
    assert pool["UsernameAttributes"] == deployed_pool["usernameAttributes"]
    assert pool.get("AutoVerifiedAttributes") == deployed_pool["autoVerifiedAttributes"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] == \
           deployed_pool["adminCreateUserConfig"]["allowAdminCreateUserOnly"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert {key[0].lower() + key[1:]: value for key, value in policy.items()} == deployed_pool["passwordPolicy"]

    assert client["ClientName"] == deployed_client["name"]
    assert "ClientSecret" not in client and deployed_client["generateSecret"] is False
    assert client["AllowedOAuthFlows"] == deployed_client["allowedOauthFlows"]
    assert client["AllowedOAuthScopes"] == deployed_client["allowedOauthScopes"]
    assert client["SupportedIdentityProviders"] == deployed_client["supportedIdentityProviders"]
    assert set(client["ExplicitAuthFlows"]) - {LOCAL_AUTH_FLOW} == set(deployed_client["explicitAuthFlows"])


def test_both_stacks_export_the_shared_output_keys_and_only_their_own_extras(deployed, local):
    written = json.loads(local.stack_file.read_text())
    assert set(deployed["outputs"]) == set(DeployedOutputs.keys())
    assert set(written) == set(LocalOutputs.keys())
    assert set(deployed["outputs"]) & set(written) == set(StackOutputs.keys())
    for key in ("bucketName", "tableName"):
        assert written[key] == deployed["outputs"][key], key


def test_both_dashboards_get_a_config_json_with_the_same_keys(deployed, local):
    content = one(deployed, "aws:s3/bucketObjectv2:BucketObjectv2", key="config.json")["inputs"]["content"]
    with urllib.request.urlopen(local.outputs["webUrl"] + "config.json", timeout=10) as response:
        served = json.load(response)
    assert set(json.loads(content)) == set(served) == set(DashboardConfig.keys())
    assert json.loads(content)["scopes"] == served["scopes"]


def test_the_policies_the_local_stack_enforces_are_the_ones_deployed(deployed, local):
    """Both render contract/permissions.py: Pulumi with its resources' ARNs, the
    local stack with `permissions.arns`. The same rendering with the deployed
    stack's region gives exactly the deployed documents, so the two sides name
    the same resources, and the local stack loads that rendering for its region."""
    names, region = Names(STACK), deployed["outputs"]["region"]
    for service, function in ((functions.API.service, names.api_function),
                              (functions.ingest_worker().service, names.ingest_function),
                              (functions.EVENTS.service, names.events_function)):
        role = one(deployed, "aws:iam/role:Role", name=function)
        deployed_policy = document(attached(deployed, "aws:iam/rolePolicy:RolePolicy", role, "role"))
        assert deployed_policy == permissions.document(permissions.render(
            permissions.ROLES[service], permissions.arns(names, region, ACCOUNT_ID, function=function))), service
        enforced = permissions.document(permissions.render(
            permissions.ROLES[service], permissions.arns(names, REGION, ACCOUNT_ID, function=function)))
        assert local.iam.named(service).policies == (Policy.parse(f"identity:{service}", enforced),), service
    bucket = one(deployed, "aws:s3/bucket:Bucket", bucket=deployed["outputs"]["bucketName"])
    assert document(attached(deployed, "aws:s3/bucketPolicy:BucketPolicy", bucket)) == permissions.document(
        permissions.render(permissions.upload_bucket_policy(False), permissions.arns(names, region, ACCOUNT_ID)))
