"""The real `__main__.py`, run under mocks for the shared dev stack and for an
ephemeral `dev-alice` stack, against the hardening the design asks of each resource."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from pulumi.runtime import rpc

from components.frontend import content_type
from contract import functions, permissions
from contract.alarms import FAILED_SHARE_MIN_FILES, FAILED_SHARE_PERCENT, Insights, MetricMath, alarms
from contract.functions import ENV_BUCKET_NAME, ENV_CURSOR_SECRET_PARAMETER, ENV_STACK, ENV_TABLE_NAME
from contract.http import (
    API_CORS_ALLOW_HEADERS,
    API_CORS_ALLOW_METHODS,
    API_CORS_EXPOSE_HEADERS,
    API_CORS_MAX_AGE_S,
    API_ROUTES,
    IDEMPOTENCY_KEY_HEADER,
    OAUTH_SCOPES,
)
from contract.ingest import INGEST
from contract.keys import INCOMING_PREFIX
from contract.metrics import (
    FILES_FAILED,
    FILES_PROCESSED,
    INGEST_SERVICE,
    NAMESPACE,
    SCANS_FAILED,
    SCANS_STUCK,
)
from contract.names import Names
from contract.outputs import DashboardConfig, DeployedOutputs
from contract.quotas import QUOTAS
from contract.scan import ENV_MALWARE_SCAN
from contract.table import (
    ATTENTION_INDEX,
    ATTENTION_INDEX_PARTITION_KEY,
    ATTENTION_INDEX_SORT_KEY,
    LIST_INDEX,
    LIST_INDEX_PARTITION_KEY,
    LIST_INDEX_SORT_KEY,
    PARTITION_KEY,
    SCAN_INDEX,
    SCAN_INDEX_PARTITION_KEY,
    SCAN_INDEX_SORT_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
)
from tests.infra.harness import (
    EPHEMERAL_CONFIG,
    EPHEMERAL_STACK,
    ROOT,
    attached,
    dev_config,
    document,
    of_type,
    one,
    run_program,
    stack_config,
)

SIGNALS = {"dlq-messages", "events-dlq-messages", "queue-stalled", "worker-errors", "worker-throttles",
           "worker-duration", "api-5xx", "api-latency", "api-errors", "table-throttles", "files-failed"}
ACCOUNT = "123456789012"
# Types whose names are unique per account (or globally), with the property holding the name.
PHYSICAL_NAMES = {
    "aws:s3/bucket:Bucket": "bucket", "aws:sqs/queue:Queue": "name", "aws:dynamodb/table:Table": "name",
    "aws:lambda/function:Function": "name", "aws:iam/role:Role": "name", "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:apigatewayv2/api:Api": "name", "aws:cognito/userPool:UserPool": "name",
    "aws:cognito/userPoolDomain:UserPoolDomain": "domain", "aws:sns/topic:Topic": "name",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName", "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:cloudfront/originAccessControl:OriginAccessControl": "name",
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": "name",
}


def is_ephemeral(stack: dict) -> bool:
    return stack["name"] == EPHEMERAL_STACK


def upload_bucket(stack: dict) -> dict:
    return one(stack, "aws:s3/bucket:Bucket", bucket=stack["outputs"]["bucketName"])


def function(stack: dict, name: str) -> dict:
    return one(stack, "aws:lambda/function:Function", name=name)


def role_statements(stack: dict, function_name: str) -> list[dict]:
    role = one(stack, "aws:iam/role:Role", name=function_name)
    return document(attached(stack, "aws:iam/rolePolicy:RolePolicy", role, "role"))["Statement"]


def unlabelled(statements: list[dict]) -> list[dict]:
    """Statements without their Sid, which only names a grant (contract/permissions.py)."""
    return [{key: value for key, value in statement.items() if key != "Sid"} for statement in statements]


def grants(stack: dict, function_name: str) -> set[tuple[str, str]]:
    """Every (action, resource) pair the function's role allows, however the statements group them."""
    return {(action, resource) for statement in role_statements(stack, function_name)
            for action in statement["Action"] for resource in statement["Resource"]}


def pairs(expected: dict[tuple[str, ...], list[str]]) -> set[tuple[str, str]]:
    return {(action, resource)
            for actions, resources in expected.items() for action in actions for resource in resources}


# --- the program as a whole ----------------------------------------------------
def test_program_exports_the_stack_output_contract_and_logs_no_warnings(stack):
    assert set(stack["outputs"]) == set(DeployedOutputs.keys())
    assert stack["outputs"]["region"] == "eu-west-1"
    assert stack["outputs"]["monitoringUrl"].endswith(f"#dashboards/dashboard/uploads-{stack['name']}")
    assert stack["warnings"] == []  # e.g. no deprecated pulumi-aws arguments


def test_components_are_typed_and_parent_every_resource(stack):
    components = {r["urn"] for r in stack["resources"] if not r["custom"]}
    for resource in stack["resources"]:
        if not resource["custom"]:
            module = re.fullmatch(r"uploads:(\w+):[A-Z]\w+", resource["type"]).group(1)
            assert (ROOT / "components" / f"{module}.py").exists()
        elif resource["type"] != "pulumi:providers:aws":
            assert resource["parent"] in components, f"{resource['name']} is not inside a component"


def test_every_resource_uses_the_provider_that_tags_project_stack_and_owner(stack):
    provider = one(stack, "pulumi:providers:aws")
    owner = "alice" if is_ephemeral(stack) else "platform-team"
    assert json.loads(provider["inputs"]["defaultTags"]) == {
        "tags": {"project": "uploads", "stack": stack["name"], "owner": owner}}
    for resource in stack["resources"]:
        if resource["type"].startswith("aws:"):
            assert resource["provider"].startswith(provider["urn"] + "::"), resource["name"]


def test_every_physical_name_includes_the_stack(stack):
    prefix = f"uploads-{stack['name']}-"
    for token, prop in PHYSICAL_NAMES.items():
        for resource in of_type(stack, token):
            name = resource["inputs"][prop]
            for service_prefix in ("/aws/lambda/", "/aws/vendedlogs/apigateway/", "/aws/events/"):
                name = name.removeprefix(service_prefix)
            assert name.startswith(prefix) or name == prefix[:-1], f"{token} {name}"


# --- buckets -------------------------------------------------------------------
def test_every_bucket_is_private_encrypted_and_tls_only(stack):
    buckets = of_type(stack, "aws:s3/bucket:Bucket")
    assert len(buckets) == 2  # uploads and the dashboard
    for bucket in buckets:
        block = attached(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)["inputs"]
        assert all(block[flag] is True for flag in
                   ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        ownership = attached(stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert ownership["inputs"]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        sse = attached(stack, "aws:s3/bucketServerSideEncryptionConfiguration:"
                              "BucketServerSideEncryptionConfiguration", bucket)["inputs"]["rules"]
        assert sse[0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
        policy = attached(stack, "aws:s3/bucketPolicy:BucketPolicy", bucket)
        deny = document(policy)["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [f"arn:aws:s3:::{bucket['inputs']['bucket']}",
                                    f"arn:aws:s3:::{bucket['inputs']['bucket']}/*"]
        assert bucket["inputs"]["forceDestroy"] is is_ephemeral(stack)


def test_upload_bucket_is_versioned_with_lifecycle_from_config(stack):
    bucket = upload_bucket(stack)
    versioning = attached(stack, "aws:s3/bucketVersioning:BucketVersioning", bucket)
    assert versioning["inputs"]["versioningConfiguration"] == {"status": "Enabled"}
    lifecycle = attached(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket)
    assert versioning["urn"] in lifecycle["dependsOn"]
    rules = {rule["id"]: rule for rule in lifecycle["inputs"]["rules"]}
    assert rules["abort-incomplete-multipart"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    if is_ephemeral(stack):
        assert "cold-storage" not in rules  # not configured
    else:
        assert rules["cold-storage"]["transitions"] == [{"days": 90, "storageClass": "STANDARD_IA"}]


def test_upload_bucket_cors_allows_only_the_dashboard_origins_and_exposes_etag(stack):
    cors = attached(stack, "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration", upload_bucket(stack))
    (rule,) = cors["inputs"]["corsRules"]
    expected = [stack["outputs"]["webUrl"]] + (["http://localhost:8080"] if is_ephemeral(stack) else [])
    assert rule["allowedOrigins"] == expected
    assert rule["exposeHeaders"] == ["ETag"]


# --- ingest path ---------------------------------------------------------------
def test_queues_are_encrypted_and_redrive_to_a_longer_lived_dlq(stack):
    names = Names(stack["name"])
    queue = one(stack, "aws:sqs/queue:Queue", name=names.queue)["inputs"]
    dlq = one(stack, "aws:sqs/queue:Queue", name=names.dead_letter_queue)["inputs"]
    assert queue["sqsManagedSseEnabled"] and dlq["sqsManagedSseEnabled"]
    redrive = json.loads(queue["redrivePolicy"])
    assert redrive["deadLetterTargetArn"] == f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{names.dead_letter_queue}"
    assert redrive["maxReceiveCount"] == INGEST.max_receive_count >= 5
    assert dlq["messageRetentionSeconds"] == 14 * 24 * 3600 > queue["messageRetentionSeconds"]
    allow = json.loads(one(stack, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy")["inputs"]["redriveAllowPolicy"])
    assert allow == {"redrivePermission": "byQueue",
                     "sourceQueueArns": [f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{names.queue}"]}


def test_visibility_timeout_is_six_worker_timeouts_plus_the_batching_window(stack):
    names = Names(stack["name"])
    queue = one(stack, "aws:sqs/queue:Queue", name=names.queue)
    worker = function(stack, names.ingest_function)
    mapping = ingest_mapping(stack, names)
    window = mapping["inputs"]["maximumBatchingWindowInSeconds"]
    assert queue["inputs"]["visibilityTimeoutSeconds"] == 6 * worker["inputs"]["timeout"] + window
    assert window == INGEST.batching_window_s


def test_only_the_upload_bucket_may_send_to_the_queue(stack):
    names = Names(stack["name"])
    queue = one(stack, "aws:sqs/queue:Queue", name=names.queue)
    (statement,) = document(attached(stack, "aws:sqs/queuePolicy:QueuePolicy", queue, "queueUrl"))["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{stack['outputs']['bucketName']}"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


def test_one_notification_for_incoming_depends_on_the_queue_policy(stack):
    notification = one(stack, "aws:s3/bucketNotification:BucketNotification")
    (target,) = notification["inputs"]["queues"]
    assert target["events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert target["filterPrefix"] == INCOMING_PREFIX
    queue_policy = one(stack, "aws:sqs/queuePolicy:QueuePolicy")
    assert queue_policy["urn"] in notification["dependsOn"]
    # Explicit depends_on: no input of the notification is computed from the policy.
    assert all(queue_policy["urn"] not in deps for deps in notification["propertyDependencies"].values())


def test_event_source_reads_the_queue_with_partial_failures_and_bounded_concurrency(stack):
    names = Names(stack["name"])
    worker = function(stack, names.ingest_function)
    mapping = ingest_mapping(stack, names)["inputs"]
    assert mapping["eventSourceArn"] == f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{names.queue}"
    assert mapping["functionName"] == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{names.ingest_function}"
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["batchSize"] == INGEST.batch_size
    assert mapping["scalingConfig"]["maximumConcurrency"] == INGEST.maximum_concurrency
    reserved = worker["inputs"].get("reservedConcurrentExecutions")
    if is_ephemeral(stack):
        # Unset: no reservation, which a new account's reduced quota cannot refuse.
        assert reserved is None
    else:
        assert reserved == 5  # Pulumi.dev.yaml
        assert 2 <= mapping["scalingConfig"]["maximumConcurrency"] <= reserved


def test_the_worker_reserves_the_configured_concurrency(package, tmp_path):
    out = tmp_path / "out.json"
    completed = run_program(EPHEMERAL_STACK, {**EPHEMERAL_CONFIG, "uploads:workerReservedConcurrency": "3"}, out)
    assert completed.returncode == 0, completed.stderr
    worker = function(json.loads(out.read_text()), Names(EPHEMERAL_STACK).ingest_function)
    assert worker["inputs"]["reservedConcurrentExecutions"] == 3


def ingest_mapping(stack: dict, names: Names) -> dict:
    """The ingest queue's event source mapping (the table's stream has one too)."""
    return one(stack, "aws:lambda/eventSourceMapping:EventSourceMapping",
               eventSourceArn=f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{names.queue}")


def mapping_of(out: Path) -> dict:
    return ingest_mapping(json.loads(out.read_text()), Names(EPHEMERAL_STACK))["inputs"]


def test_the_event_source_takes_its_batch_window_and_concurrency_from_the_stacks_config(package, tmp_path):
    out = tmp_path / "out.json"
    config = {"uploads:ingestBatchSize": "4", "uploads:ingestBatchingWindowSeconds": "3",
              "uploads:ingestMaximumConcurrency": "7", "uploads:workerReservedConcurrency": "7"}
    completed = run_program(EPHEMERAL_STACK, {**EPHEMERAL_CONFIG, **config}, out)
    assert completed.returncode == 0, completed.stderr
    mapping = mapping_of(out)
    assert (mapping["batchSize"], mapping["maximumBatchingWindowInSeconds"],
            mapping["scalingConfig"]["maximumConcurrency"]) == (4, 3, 7)
    queue = one(json.loads(out.read_text()), "aws:sqs/queue:Queue", name=Names(EPHEMERAL_STACK).queue)
    assert queue["inputs"]["visibilityTimeoutSeconds"] == 6 * INGEST.worker_timeout_s + 3


def test_by_default_a_lone_file_is_not_held_for_a_batching_window(package, tmp_path):
    out = tmp_path / "out.json"
    completed = run_program(EPHEMERAL_STACK, EPHEMERAL_CONFIG, out)
    assert completed.returncode == 0, completed.stderr
    assert mapping_of(out)["maximumBatchingWindowInSeconds"] == 0


def test_reserved_concurrency_must_cover_the_configured_maximum_concurrency(package, tmp_path):
    config = {"uploads:ingestMaximumConcurrency": "8", "uploads:workerReservedConcurrency": "5"}
    completed = run_program(EPHEMERAL_STACK, {**EPHEMERAL_CONFIG, **config}, tmp_path / "out.json")
    assert completed.returncode != 0
    assert "uploads:workerReservedConcurrency: must be at least the event source's maximum concurrency, 8" \
        in completed.stderr


# --- functions and IAM -----------------------------------------------------------
@pytest.mark.parametrize("spec", [functions.ingest_worker(), functions.API], ids=lambda spec: spec.service)
def test_functions_are_hardened_and_configured(stack, package, spec):
    name = spec.function_name(Names(stack["name"]))
    inputs = function(stack, name)["inputs"]
    assert inputs["architectures"] == ["arm64"] and inputs["runtime"] == "python3.13"
    assert inputs["handler"] == spec.handler
    module, _, function_name = spec.handler.rpartition(".")
    assert f"def {function_name}(" in (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert inputs["tracingConfig"] == {"mode": "Active"}
    assert inputs["code"] == {"FileArchive": str(package.path)}
    assert inputs["sourceCodeHash"] == package.sha256_b64
    log_group = one(stack, "aws:cloudwatch/logGroup:LogGroup", name=f"/aws/lambda/{name}")
    assert inputs["loggingConfig"] == {"logFormat": "JSON", "logGroup": log_group["inputs"]["name"]}
    assert log_group["inputs"]["retentionInDays"] == (3 if is_ephemeral(stack) else 30)
    assert inputs["environment"]["variables"] == {
        ENV_TABLE_NAME: stack["outputs"]["tableName"],
        ENV_BUCKET_NAME: stack["outputs"]["bucketName"],
        ENV_STACK: stack["name"],
        ENV_MALWARE_SCAN: "on" if stack["name"] == "prod" else "off",
        "POWERTOOLS_SERVICE_NAME": spec.service,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        "LOG_LEVEL": "INFO",
        **({ENV_CURSOR_SECRET_PARAMETER: Names(stack["name"]).cursor_secret_parameter, **QUOTAS.variables()}
           if spec is functions.API else {}),
    }


def test_the_api_takes_each_users_quotas_and_rate_limits_from_the_stacks_config(package, tmp_path):
    out = tmp_path / "out.json"
    config = {"uploads:quotaBytes": "1000", "uploads:quotaFiles": "20", "uploads:ticketRateLimit": "7",
              "uploads:partUrlRateLimit": "9"}
    completed = run_program(EPHEMERAL_STACK, {**EPHEMERAL_CONFIG, **config}, out)
    assert completed.returncode == 0, completed.stderr
    api_function = function(json.loads(out.read_text()), Names(EPHEMERAL_STACK).api_function)
    variables = api_function["inputs"]["environment"]["variables"]
    assert {name: variables[name] for name in functions.QUOTA_VARIABLES} == {
        functions.ENV_QUOTA_BYTES: "1000", functions.ENV_QUOTA_FILES: "20",
        functions.ENV_TICKET_RATE_LIMIT: "7", functions.ENV_PART_URL_RATE_LIMIT: "9",
    }


def test_no_role_has_a_wildcard_action_or_resource_beyond_tracing(stack):
    for policy in of_type(stack, "aws:iam/rolePolicy:RolePolicy"):
        for statement in document(policy)["Statement"]:
            assert not any(action == "*" or action.endswith(":*") for action in statement["Action"])
            if "*" in statement["Resource"]:
                assert statement["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


def test_worker_role_reaches_exactly_its_queue_prefixes_and_table(stack):
    names = Names(stack["name"])
    bucket = f"arn:aws:s3:::{stack['outputs']['bucketName']}"
    table = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{names.table}"
    assert grants(stack, names.ingest_function) == pairs({
        ("logs:CreateLogStream", "logs:PutLogEvents"):
            [f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/{names.ingest_function}:*"],
        ("xray:PutTraceSegments", "xray:PutTelemetryRecords"): ["*"],
        ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"):
            [f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{names.queue}"],
        ("s3:GetObject", "s3:GetObjectVersion"): [f"{bucket}/incoming/*"],
        ("s3:PutObject",): [f"{bucket}/thumbnails/*"],
        ("s3:DeleteObject", "s3:DeleteObjectVersion"): [f"{bucket}/incoming/*", f"{bucket}/thumbnails/*"],
        ("s3:ListBucketVersions",): [bucket],
        ("s3:ListBucket",): [bucket],
        ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"): [table],
        # The scan sweep's count, and only on the scan index.
        ("dynamodb:Query",): [f"{table}/index/{SCAN_INDEX}"],
    })
    listing = next(s for s in role_statements(stack, names.ingest_function) if s["Action"] == ["s3:ListBucketVersions"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["incoming/*", "thumbnails/*"]}}


def test_api_role_covers_exactly_the_calls_the_api_makes_and_the_urls_it_signs(stack):
    names = Names(stack["name"])
    bucket = f"arn:aws:s3:::{stack['outputs']['bucketName']}"
    table = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{names.table}"
    assert grants(stack, names.api_function) == pairs({
        ("logs:CreateLogStream", "logs:PutLogEvents"):
            [f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/{names.api_function}:*"],
        ("xray:PutTraceSegments", "xray:PutTelemetryRecords"): ["*"],
        ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"): [f"{bucket}/incoming/*"],
        # Downloads name the version the worker examined; thumbnail links the
        # thumbnail's only version. Nothing reads an object of incoming/ unversioned.
        ("s3:GetObjectVersion",): [f"{bucket}/incoming/*"],
        ("s3:GetObject",): [f"{bucket}/thumbnails/*"],
        ("s3:DeleteObject", "s3:DeleteObjectVersion"): [f"{bucket}/incoming/*", f"{bucket}/thumbnails/*"],
        ("s3:ListBucketVersions",): [bucket],
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
         "dynamodb:ConditionCheckItem"): [table],
        ("dynamodb:Query",): [table, f"{table}/index/{LIST_INDEX}"],
        ("ssm:GetParameter",):
            [f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter{names.cursor_secret_parameter}"],
    })
    listing = next(s for s in role_statements(stack, names.api_function) if s["Action"] == ["s3:ListBucketVersions"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["incoming/*", "thumbnails/*"]}}


def test_cursor_secret_is_generated_at_deploy_time_and_stored_as_a_secure_string(stack):
    names = Names(stack["name"])
    password = one(stack, "random:index/randomPassword:RandomPassword")
    assert password["inputs"]["length"] >= 64 and password["inputs"]["special"] is False
    parameter = one(stack, "aws:ssm/parameter:Parameter", name=names.cursor_secret_parameter)
    assert parameter["inputs"]["type"] == "SecureString"
    assert "keyId" not in parameter["inputs"]  # SSM's own aws/ssm key, which needs no grant
    # The value is the generated password, and travels as a Pulumi secret.
    assert parameter["propertyDependencies"]["value"] == [password["urn"]]
    assert parameter["inputs"]["value"][rpc._special_sig_key] == rpc._special_secret_sig
    api = function(stack, names.api_function)
    assert api["inputs"]["environment"]["variables"][ENV_CURSOR_SECRET_PARAMETER] == \
        parameter["inputs"]["name"]


@pytest.mark.parametrize("key", [
    "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
    # The stack's region's replica of a multi-Region key.
    "arn:aws:kms:eu-west-1:123456789012:key/mrk-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d",
], ids=["single-Region", "multi-Region replica"])
def test_a_customer_kms_key_encrypts_the_cursor_secret_and_is_granted_only_through_its_services(
        package, tmp_path, key):
    out = tmp_path / "out.json"
    completed = run_program(EPHEMERAL_STACK, {**EPHEMERAL_CONFIG, "uploads:kmsKeyArn": key}, out)
    assert completed.returncode == 0, completed.stderr
    stack = json.loads(out.read_text())
    names = Names(EPHEMERAL_STACK)
    parameter = one(stack, "aws:ssm/parameter:Parameter")
    assert parameter["inputs"]["keyId"] == key
    via_s3 = {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [key],
              "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}
    api = role_statements(stack, names.api_function)
    assert unlabelled([s for s in api if s["Action"][0].startswith("kms:")]) == [
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key], "Condition": {"StringEquals": {
            "kms:EncryptionContext:PARAMETER_ARN":
                f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter{names.cursor_secret_parameter}"}}},
        via_s3,
    ]
    worker = role_statements(stack, names.ingest_function)
    assert unlabelled([s for s in worker if s["Action"][0].startswith("kms:")]) == [via_s3]


# --- table -----------------------------------------------------------------------
def test_table_is_on_demand_recoverable_indexed_and_expiring(stack):
    table = one(stack, "aws:dynamodb/table:Table")["inputs"]
    assert table["name"] == stack["outputs"]["tableName"] == Names(stack["name"]).table
    assert (table["hashKey"], table["rangeKey"]) == (PARTITION_KEY, SORT_KEY)
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["ttl"] == {"attributeName": TTL_ATTRIBUTE, "enabled": True}
    indexes = {index["name"]: [(k["attributeName"], k["keyType"]) for k in index["keySchemas"]]
               for index in table["globalSecondaryIndexes"]}
    assert indexes == {
        LIST_INDEX: [(LIST_INDEX_PARTITION_KEY, "HASH"), (LIST_INDEX_SORT_KEY, "RANGE")],
        ATTENTION_INDEX: [(ATTENTION_INDEX_PARTITION_KEY, "HASH"),
                                   (ATTENTION_INDEX_SORT_KEY, "RANGE")],
        SCAN_INDEX: [(SCAN_INDEX_PARTITION_KEY, "HASH"), (SCAN_INDEX_SORT_KEY, "RANGE")],
    }
    assert table["deletionProtectionEnabled"] is not is_ephemeral(stack)


# --- API and auth ----------------------------------------------------------------
def test_every_route_of_the_contract_requires_the_cognito_jwt_authorizer(stack):
    authorizer = one(stack, "aws:apigatewayv2/authorizer:Authorizer")
    pool = one(stack, "aws:cognito/userPool:UserPool")
    assert authorizer["inputs"]["jwtConfiguration"] == {
        "issuer": f"https://cognito-idp.eu-west-1.amazonaws.com/{stack['outputs']['userPoolId']}",
        "audiences": [stack["outputs"]["userPoolClientId"]],
    }
    assert pool["urn"] in authorizer["propertyDependencies"]["jwtConfiguration"]
    routes = of_type(stack, "aws:apigatewayv2/route:Route")
    assert sorted(r["inputs"]["routeKey"] for r in routes) == sorted(API_ROUTES)
    for route in routes:
        assert route["inputs"]["authorizationType"] == "JWT"
        assert authorizer["urn"] in route["propertyDependencies"]["authorizerId"]


def test_api_cors_allows_only_dashboard_origins_as_the_local_gateway_does(stack):
    cors = one(stack, "aws:apigatewayv2/api:Api")["inputs"]["corsConfiguration"]
    origins = [stack["outputs"]["webUrl"]] + (["http://localhost:8080"] if is_ephemeral(stack) else [])
    assert cors == {
        "allowOrigins": origins,
        "allowMethods": list(API_CORS_ALLOW_METHODS),
        "allowHeaders": list(API_CORS_ALLOW_HEADERS),
        "exposeHeaders": list(API_CORS_EXPOSE_HEADERS),
        "maxAge": API_CORS_MAX_AGE_S,
    }
    assert {route.split(" ")[0] for route in API_ROUTES} <= set(cors["allowMethods"])
    assert IDEMPOTENCY_KEY_HEADER.lower() in cors["allowHeaders"]


def test_api_throttles_and_logs_json(stack):
    stage = one(stack, "aws:apigatewayv2/stage:Stage")["inputs"]
    assert stage["defaultRouteSettings"] == {"throttlingBurstLimit": 100, "throttlingRateLimit": 50}
    access_log = one(stack, "aws:cloudwatch/logGroup:LogGroup",
                     name=f"/aws/vendedlogs/apigateway/uploads-{stack['name']}")
    assert stage["accessLogSettings"]["destinationArn"].endswith(access_log["inputs"]["name"])
    assert "$context.requestId" in json.loads(stage["accessLogSettings"]["format"]).values()
    integration = one(stack, "aws:apigatewayv2/integration:Integration")["inputs"]
    assert (integration["integrationType"], integration["payloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    permission = one(stack, "aws:lambda/permission:Permission")["inputs"]
    assert permission["sourceArn"] == f"arn:aws:execute-api:eu-west-1:{ACCOUNT}:a1b2c3/*/*"


def test_cognito_client_is_public_code_flow_with_dashboard_callbacks(stack):
    pool = one(stack, "aws:cognito/userPool:UserPool")["inputs"]
    assert pool["usernameAttributes"] == ["email"]
    assert pool["passwordPolicy"]["minimumLength"] >= 12
    assert pool["mfaConfiguration"] == "OPTIONAL" and pool["softwareTokenMfaConfiguration"] == {"enabled": True}
    assert pool["deletionProtection"] == ("INACTIVE" if is_ephemeral(stack) else "ACTIVE")
    client = one(stack, "aws:cognito/userPoolClient:UserPoolClient")["inputs"]
    assert client["generateSecret"] is False and client["allowedOauthFlows"] == ["code"]
    expected = [stack["outputs"]["webUrl"]] + (["http://localhost:8080"] if is_ephemeral(stack) else [])
    assert client["callbackUrls"] == client["logoutUrls"] == expected
    domain = one(stack, "aws:cognito/userPoolDomain:UserPoolDomain")["inputs"]
    assert domain["domain"] == f"uploads-{stack['name']}-{ACCOUNT}"


# --- frontend --------------------------------------------------------------------
def test_dashboard_is_served_over_https_by_cloudfront_only_with_security_headers(stack):
    distribution = one(stack, "aws:cloudfront/distribution:Distribution")["inputs"]
    behavior = distribution["defaultCacheBehavior"]
    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
    headers = one(stack, "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
    assert behavior["responseHeadersPolicyId"] == f"{headers['inputs']['name']}-id"
    security = headers["inputs"]["securityHeadersConfig"]
    assert "frame-ancestors 'none'" in security["contentSecurityPolicy"]["contentSecurityPolicy"]
    assert security["strictTransportSecurity"]["accessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert security["contentTypeOptions"] == {"override": True}
    assert security["frameOptions"] == {"frameOption": "DENY", "override": True}
    oac = one(stack, "aws:cloudfront/originAccessControl:OriginAccessControl")["inputs"]
    assert (oac["signingBehavior"], oac["signingProtocol"]) == ("always", "sigv4")
    (origin,) = distribution["origins"]
    assert origin["originAccessControlId"] == f"{oac['name']}-id"
    site = one(stack, "aws:s3/bucket:Bucket", bucket=f"uploads-{stack['name']}-web-{ACCOUNT}")
    grant = document(attached(stack, "aws:s3/bucketPolicy:BucketPolicy", site))["Statement"][1]
    assert grant["Principal"] == {"Service": "cloudfront.amazonaws.com"} and grant["Action"] == "s3:GetObject"
    assert grant["Condition"] == {"StringEquals": {
        "AWS:SourceArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2EXAMPLE"}}


def test_the_dashboard_may_reach_the_upload_bucket_only_at_the_regional_host_presigned_urls_name(stack):
    csp = one(stack, "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")["inputs"]["securityHeadersConfig"]
    connect = re.search(r"connect-src ([^;]*)", csp["contentSecurityPolicy"]["contentSecurityPolicy"]).group(1).split()
    bucket = stack["outputs"]["bucketName"]
    assert f"https://{bucket}.s3.eu-west-1.amazonaws.com" in connect
    assert f"https://{bucket}.s3.amazonaws.com" not in connect
    images = re.search(r"img-src ([^;]*)", csp["contentSecurityPolicy"]["contentSecurityPolicy"]).group(1).split()
    assert f"https://{bucket}.s3.eu-west-1.amazonaws.com" in images, "thumbnails are presigned GETs on the bucket"


def site_objects(stack: dict) -> dict[str, dict]:
    return {o["inputs"]["key"]: o for o in of_type(stack, "aws:s3/bucketObjectv2:BucketObjectv2")}


def uploaded_body(site_object: dict) -> bytes:
    inputs = site_object["inputs"]
    if inputs.get("source"):
        return Path(inputs["source"]["FileAsset"]).read_bytes()
    return inputs["content"].encode()


HASHED_KEY = re.compile(r"^(?P<name>.+)\.(?P<hash>[0-9a-f]{12})(?P<suffix>\.[a-z0-9]+)$")
# Every way the page and its modules name another file: attributes, static and
# dynamic imports, and the worker's `new URL(..., import.meta.url)`.
PAGE_REFERENCES = re.compile(r"""\b(?:src|href)=["']([^"':]+)["']""")
MODULE_REFERENCES = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*|\bnew\s+URL\(\s*)["']([^"']+)["']""")


def test_site_serves_every_web_file_plus_a_generated_config(stack):
    objects = site_objects(stack)
    web = ROOT / "web"
    files = {p.relative_to(web).as_posix(): p for p in web.rglob("*") if p.is_file() and not p.name.startswith(".")}
    sources = {o["name"].removeprefix("web-content-"): o["inputs"] for o in objects.values()}
    assert set(sources) == set(files) | {"config.json"}
    for name, path in files.items():
        assert sources[name]["contentType"] == content_type(path)
    config = json.loads(objects["config.json"]["inputs"]["content"])
    outputs = stack["outputs"]
    assert config["apiUrl"] == outputs["apiUrl"] and config["userPoolClientId"] == outputs["userPoolClientId"]
    assert config["cognitoDomain"] == f"https://uploads-{stack['name']}-{ACCOUNT}.auth.eu-west-1.amazoncognito.com"
    assert config["redirectUris"][0] == outputs["webUrl"]
    assert config["scopes"] == list(OAUTH_SCOPES)
    # The local stack's config.json has the same keys (tests/e2e/web checks it there).
    assert set(config) == set(DashboardConfig.keys())


def test_every_dashboard_asset_is_uploaded_under_a_hash_of_what_it_serves(stack):
    objects = site_objects(stack)
    assets = {key: site_object for key, site_object in objects.items() if key not in {"index.html", "config.json"}}
    assert assets
    for key, site_object in assets.items():
        hashed = HASHED_KEY.match(key)
        assert hashed, f"{key} is not content-hashed"
        assert hashed["hash"] == hashlib.sha256(uploaded_body(site_object)).hexdigest()[:12], key
        assert site_object["name"] == f"web-content-{hashed['name']}{hashed['suffix']}"


def test_the_page_and_every_module_name_only_uploaded_hashed_files(stack):
    objects = site_objects(stack)
    page = uploaded_body(objects["index.html"]).decode()
    named = {"index.html": PAGE_REFERENCES.findall(page)}
    for key, site_object in objects.items():
        if key.endswith(".js"):
            named[key] = MODULE_REFERENCES.findall(uploaded_body(site_object).decode())
    assert named["index.html"], "the page names its script, stylesheet and icon"
    assert sum(map(len, named.values())) > len(named["index.html"]), "the modules import each other"
    for key, references in named.items():
        for reference in references:
            target = reference.removeprefix("./")
            assert target in objects, f"{key} names {reference}, which was not uploaded"
            assert HASHED_KEY.match(target), f"{key} names {reference}, which is not content-hashed"


def test_the_page_and_config_are_revalidated_and_hashed_assets_are_immutable_and_kept(stack):
    objects = site_objects(stack)
    for key, site_object in objects.items():
        if key in {"index.html", "config.json"}:
            assert site_object["inputs"]["cacheControl"] == "no-cache", key
        else:
            assert site_object["inputs"]["cacheControl"] == "public, max-age=31536000, immutable", key
            # A page loaded before a deploy may still ask for the names it knows.
            assert site_object["retainOnDelete"], key


@pytest.mark.parametrize("name, expected", [
    ("index.html", "text/html; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"),
    ("app.mjs", "text/javascript; charset=utf-8"), ("style.css", "text/css; charset=utf-8"),
    ("logo.svg", "image/svg+xml"), ("data.bin", "application/octet-stream"),
])
def test_content_types_are_explicit_for_web_assets(name, expected):
    assert content_type(Path(name)) == expected


# --- alarms ----------------------------------------------------------------------
def test_eleven_alarms_named_for_the_stack_notify_both_ways_and_link_their_runbook(stack):
    topic = stack["outputs"]["alarmTopicArn"]
    alarms = {a["inputs"]["name"]: a["inputs"] for a in of_type(stack, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(alarms) == {f"uploads-{stack['name']}-{signal}" for signal in SIGNALS}
    runbook = (ROOT / "docs/runbooks.md").read_text()
    for name, alarm in alarms.items():
        signal = name.removeprefix(f"uploads-{stack['name']}-")
        assert alarm["alarmActions"] == alarm["okActions"] == [topic]
        assert alarm["treatMissingData"] in {"ignore", "notBreaching"}
        assert alarm["alarmDescription"].endswith(f"Runbook: docs/runbooks.md#{signal}")
        assert re.search(rf"^## {re.escape(signal)}$", runbook, re.MULTILINE), f"no runbook section for {signal}"


def test_alarm_thresholds_derive_from_the_ingest_settings(stack):
    alarms = {a["inputs"]["name"].split(f"uploads-{stack['name']}-")[1]: a["inputs"]
              for a in of_type(stack, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    ingest = INGEST
    assert alarms["dlq-messages"]["threshold"] == 1
    assert alarms["queue-stalled"]["threshold"] == ingest.visibility_timeout_s * (ingest.max_receive_count + 1)
    assert alarms["worker-duration"]["threshold"] == 0.8 * ingest.worker_timeout_s * 1000
    # A share of the files handled, not a count: ordinary bad uploads at volume must not page.
    failed = alarms["files-failed"]
    assert failed["threshold"] == FAILED_SHARE_PERCENT
    queries = {query["id"]: query for query in failed["metricQueries"]}
    assert [query["id"] for query in failed["metricQueries"] if query["returnData"]] == ["e1"]
    expression = queries["e1"]["expression"]
    assert f">= {FAILED_SHARE_MIN_FILES}" in expression and "100 * FILL(m1, 0) /" in expression
    # Only this stack's total series: not other stacks', and not the per-code series again.
    this_stack = {"service": INGEST_SERVICE, "stack": stack["name"]}
    assert [(queries[q]["metric"]["namespace"], queries[q]["metric"]["metricName"], queries[q]["metric"]["dimensions"],
             queries[q]["metric"]["stat"], queries[q]["metric"]["period"]) for q in ("m1", "m2")] == [
        (NAMESPACE, FILES_FAILED, this_stack, "Sum", 900), (NAMESPACE, FILES_PROCESSED, this_stack, "Sum", 900)]


def test_every_deployed_alarm_is_its_contract_declaration(stack):
    """The local stack evaluates contract.alarms; what is deployed must be the same alarms."""
    assert_deployed_as_declared(stack, stack["name"], malware_scan=False)


def assert_deployed_as_declared(stack: dict, name: str, malware_scan: bool) -> None:
    deployed = {a["inputs"]["name"]: a["inputs"] for a in of_type(stack, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    api_id = re.match(r"https://(\w+)\.execute-api\.", stack["outputs"]["apiUrl"]).group(1)
    declared = {spec.name(Names(name)): spec
                for spec in alarms(Names(name), INGEST, api_id, malware_scan=malware_scan)}
    assert set(deployed) == set(declared)
    for name, spec in declared.items():
        alarm = deployed[name]
        assert (alarm["threshold"], alarm["comparisonOperator"], alarm["evaluationPeriods"],
                alarm["datapointsToAlarm"], alarm["treatMissingData"], alarm["alarmDescription"]) == (
            spec.threshold, spec.comparison, spec.periods, spec.datapoints, spec.missing, spec.description), name
        queries = alarm["metricQueries"]
        if isinstance(spec.source, Insights):
            [query] = queries
            assert (query["expression"], query["period"]) == (spec.source.query, spec.period_s), name
        elif isinstance(spec.source, MetricMath):
            assert [(q["id"], q["returnData"]) for q in queries] == [
                *((metric_id, False) for metric_id in spec.source.metrics), (spec.source.id, True)], name
            assert queries[-1]["expression"] == spec.source.expression, name
            for query, metric in zip(queries, spec.source.metrics.values(), strict=False):
                assert_reads(query["metric"], metric, spec.period_s, name)
        else:
            [query] = queries
            assert_reads(query["metric"], spec.source, spec.period_s, name)


def assert_reads(deployed: dict, metric, period_s: int, name: str) -> None:
    assert (deployed["namespace"], deployed["metricName"], deployed["dimensions"], deployed["stat"],
            deployed["period"]) == (metric.namespace, metric.name, dict(metric.dimensions), metric.stat, period_s), name


def test_the_monitoring_board_shows_every_alarm_signal_and_subscriptions_come_from_config(stack):
    body = json.loads(one(stack, "aws:cloudwatch/dashboard:Dashboard")["inputs"]["dashboardBody"])
    assert {widget["properties"]["title"] for widget in body["widgets"]} == SIGNALS
    subscriptions = [s["inputs"] for s in of_type(stack, "aws:sns/topicSubscription:TopicSubscription")]
    if is_ephemeral(stack):
        assert subscriptions == []
    else:
        assert [(s["protocol"], s["endpoint"]) for s in subscriptions] == [
            (s["protocol"], s["endpoint"]) for s in json.loads(dev_config()["uploads:alarmSubscriptions"])]


# --- configuration ---------------------------------------------------------------
@pytest.mark.parametrize("key, value, message", [
    ("uploads:mfa", "SOMETIMES", "uploads:mfa: must be one of"),
    ("uploads:coldStorageDays", "7", "uploads:coldStorageDays: must be at least 30"),
    ("uploads:apiRateLimit", "-1", "uploads:apiRateLimit: must be a positive integer"),
    ("uploads:quotaBytes", "0", "uploads:quotaBytes: must be a positive integer"),
    ("uploads:ticketRateLimit", "lots", "uploads:ticketRateLimit"),
    ("uploads:alarmSubscriptions", '[{"protocol": "sms", "endpoint": "+15550100"}]',
     "uploads:alarmSubscriptions[0]: protocol must be one of"),
    ("uploads:logRetentionDays", "10", "uploads:logRetentionDays: must be one of"),
    ("uploads:ephemeral", "maybe", "uploads:ephemeral"),
    ("uploads:workerReservedConcurrency", "1", "uploads:workerReservedConcurrency: must be at least"),
    ("uploads:workerReservedConcurrency", "-1", "uploads:workerReservedConcurrency: must be at least"),
    ("uploads:workerReservedConcurrency", "many", "uploads:workerReservedConcurrency"),
    ("uploads:ingestBatchSize", "11", "uploads:ingestBatchSize: must be at most 10"),
    ("uploads:ingestBatchSize", "0", "uploads:ingestBatchSize: must be a positive integer"),
    ("uploads:ingestBatchingWindowSeconds", "301", "uploads:ingestBatchingWindowSeconds: must be within 0-300"),
    ("uploads:ingestMaximumConcurrency", "1", "uploads:ingestMaximumConcurrency: must be within 2-1000"),
    ("uploads:ingestMaximumConcurrency", "1001", "uploads:ingestMaximumConcurrency: must be within 2-1000"),
    ("uploads:kmsKeyArn", "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
     "uploads:kmsKeyArn: the key is in us-east-1 but the stack deploys to eu-west-1"),
    ("uploads:alarmSubscriptions", '[{"protocol": "email", "endpoint": "uploads-oncall@example.com"}]',
     "uploads:alarmSubscriptions[0]: endpoint 'uploads-oncall@example.com' is in a reserved domain"),
    ("uploads:alarmSubscriptions", '[{"protocol": "email", "endpoint": "oncall@Team.Example.ORG"}]',
     "uploads:alarmSubscriptions[0]: endpoint 'oncall@Team.Example.ORG' is in a reserved domain"),
    ("uploads:alarmSubscriptions", '[{"protocol": "https", "endpoint": "https://hooks.example.net/alarms"}]',
     "uploads:alarmSubscriptions[0]: endpoint 'https://hooks.example.net/alarms' is in a reserved domain"),
])
def test_bad_config_fails_before_any_resource_naming_the_key(package, tmp_path, key, value, message):
    completed = run_program(EPHEMERAL_STACK, {**EPHEMERAL_CONFIG, key: value}, tmp_path / "out.json")
    assert completed.returncode != 0
    assert message in completed.stderr
    assert not (tmp_path / "out.json").exists()


def test_the_shared_stack_refuses_to_deploy_without_an_on_call_subscription(package, tmp_path):
    config = stack_config(ROOT / "Pulumi.dev.yaml")
    config.pop("uploads:alarmSubscriptions", None)
    completed = run_program("dev", config, tmp_path / "out.json")
    assert completed.returncode != 0
    assert "uploads:alarmSubscriptions: required for a stack that is not ephemeral" in completed.stderr
    assert not (tmp_path / "out.json").exists()


def test_the_shared_stack_refuses_an_example_address_for_on_call(package, tmp_path):
    placeholder = json.dumps([{"protocol": "email", "endpoint": "uploads-oncall@example.com"}])
    completed = run_program("dev", {**dev_config(), "uploads:alarmSubscriptions": placeholder}, tmp_path / "out.json")
    assert completed.returncode != 0 and "reserved domain" in completed.stderr


def test_missing_owner_is_named(package, tmp_path):
    completed = run_program(EPHEMERAL_STACK, {"aws:region": "eu-west-1"}, tmp_path / "out.json")
    assert completed.returncode != 0 and "uploads:owner" in completed.stderr


def test_ephemeral_can_be_switched_off_for_a_dev_stack(package, tmp_path):
    out = tmp_path / "out.json"
    # A stack that is not ephemeral must also say who its alarms reach.
    on_call = {"uploads:alarmSubscriptions": dev_config()["uploads:alarmSubscriptions"]}
    completed = run_program(EPHEMERAL_STACK, {**EPHEMERAL_CONFIG, "uploads:ephemeral": "false", **on_call}, out)
    assert completed.returncode == 0, completed.stderr
    table = one(json.loads(out.read_text()), "aws:dynamodb/table:Table")
    assert table["inputs"]["deletionProtectionEnabled"] is True


def test_the_local_stack_gives_each_handler_the_same_environment_variable_names(stack):
    from local.stack import LocalStack

    local = LocalStack(stack=stack["name"])
    local.outputs = {"awsEndpointUrl": "http://127.0.0.1:1", "awsEndpointUrlS3": "http://127.0.0.1:2"}
    # What only the emulator needs: where it is, and credentials Lambda's role would give.
    local_only = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    names = Names(stack["name"])
    for spec in (local.worker_spec(), local.api_spec()):
        deployed = function(stack, spec.name)["inputs"]["environment"]["variables"]
        assert set(spec.environment) - local_only == set(deployed), spec.name
        assert spec.handler == function(stack, spec.name)["inputs"]["handler"]
    assert {local.worker_spec().name, local.api_spec().name} == {names.ingest_function, names.api_function}


# --- malware scanning (uploads:malwareScan) ----------------------------------------


@pytest.fixture(scope="module")
def scanning_stack(package, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("scanning") / "out.json"
    completed = run_program(EPHEMERAL_STACK, {**EPHEMERAL_CONFIG, "uploads:malwareScan": "true"}, out)
    assert completed.returncode == 0, completed.stderr
    return json.loads(out.read_text())


def test_scanning_is_off_unless_the_stack_turns_it_on(stack):
    assert not of_type(stack, "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan")
    # The stack's own bus has its rules; the default bus, where GuardDuty's results come, has none.
    assert not [rule for rule in of_type(stack, "aws:cloudwatch/eventRule:EventRule")
                if rule["inputs"].get("eventBusName") is None]
    bucket_policy = document(attached(stack, "aws:s3/bucketPolicy:BucketPolicy", upload_bucket(stack)))
    assert [statement["Sid"] for statement in bucket_policy["Statement"]] == ["DenyInsecureTransport"]


def test_the_plan_scans_incoming_with_tagging_as_its_own_role(scanning_stack):
    names = Names(EPHEMERAL_STACK)
    plan = one(scanning_stack, "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan")
    assert plan["inputs"]["protectedResource"]["s3Bucket"] == {
        "bucketName": scanning_stack["outputs"]["bucketName"], "objectPrefixes": [INCOMING_PREFIX]}
    assert plan["inputs"]["actions"] == [{"taggings": [{"status": "ENABLED"}]}]
    role = one(scanning_stack, "aws:iam/role:Role", name=names.malware_scan_role)
    assert role["urn"] in plan["propertyDependencies"]["role"]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "malware-protection-plan.guardduty.amazonaws.com"},
                      "Action": "sts:AssumeRole"}]


def test_the_plan_s_role_reaches_only_the_bucket_incoming_and_guardduty_s_own_rules(scanning_stack):
    names = Names(EPHEMERAL_STACK)
    role = one(scanning_stack, "aws:iam/role:Role", name=names.malware_scan_role)
    statements = document(attached(scanning_stack, "aws:iam/rolePolicy:RolePolicy", role, "role"))["Statement"]
    bucket = f"arn:aws:s3:::{scanning_stack['outputs']['bucketName']}"
    rules = f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
    reached = {(action, resource) for statement in statements
               for action in statement["Action"] for resource in statement["Resource"]}
    assert reached == {
        *((action, rules) for action in ("events:PutRule", "events:DeleteRule", "events:PutTargets",
                                         "events:RemoveTargets", "events:DescribeRule", "events:ListTargetsByRule")),
        ("s3:PutBucketNotification", bucket), ("s3:GetBucketNotification", bucket), ("s3:ListBucket", bucket),
        ("s3:PutObject", f"{bucket}/malware-protection-resource-validation-object"),
        *((action, f"{bucket}/{INCOMING_PREFIX}*") for action in (
            "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
            "s3:PutObjectTagging", "s3:PutObjectVersionTagging")),
    }
    managed = next(statement for statement in statements if "events:PutRule" in statement["Action"])
    assert managed["Condition"] == {
        "StringLike": {"events:ManagedBy": "malware-protection-plan.guardduty.amazonaws.com"}}


def test_scan_results_of_this_bucket_go_to_the_ingest_queue(scanning_stack):
    names = Names(EPHEMERAL_STACK)
    rule = one(scanning_stack, "aws:cloudwatch/eventRule:EventRule", name=names.scan_result_rule)
    assert json.loads(rule["inputs"]["eventPattern"]) == {
        "source": ["aws.guardduty"], "detail-type": ["GuardDuty Malware Protection Object Scan Result"],
        "detail": {"s3ObjectDetails": {"bucketName": [scanning_stack["outputs"]["bucketName"]]}}}
    queue = one(scanning_stack, "aws:sqs/queue:Queue", name=names.queue)
    [target] = [target for target in of_type(scanning_stack, "aws:cloudwatch/eventTarget:EventTarget")
                if rule["urn"] in target["propertyDependencies"]["rule"]]
    assert queue["urn"] in target["propertyDependencies"]["arn"]
    assert rule["urn"] in target["propertyDependencies"]["rule"]
    statements = document(attached(scanning_stack, "aws:sqs/queuePolicy:QueuePolicy", queue, "queueUrl"))["Statement"]
    from_events = next(statement for statement in statements if statement["Sid"] == "AllowScanResults")
    assert from_events["Principal"] == {"Service": "events.amazonaws.com"}
    assert from_events["Condition"] == {
        "ArnEquals": {"aws:SourceArn": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/{names.scan_result_rule}"}}
    assert one(scanning_stack, "aws:s3/bucketNotification:BucketNotification")["inputs"]["eventbridge"] is True


def test_the_bucket_policy_releases_by_the_scan_tag(scanning_stack):
    statements = document(attached(scanning_stack, "aws:s3/bucketPolicy:BucketPolicy",
                                   upload_bucket(scanning_stack)))["Statement"]
    names = Names(EPHEMERAL_STACK)
    assert statements == permissions.document(permissions.render(
        permissions.upload_bucket_policy(True), permissions.arns(names, "eu-west-1", ACCOUNT)))["Statement"]
    assert [statement["Sid"] for statement in statements] == [
        "DenyInsecureTransport", "DenyReadsUnlessScannedClean", "DenyScanTagChangesButThePlans",
        "DenyUploadsCarryingTheScanTag"]


def test_the_functions_are_told_the_stack_scans(scanning_stack):
    for spec in (functions.ingest_worker(), functions.API):
        worker = function(scanning_stack, spec.function_name(Names(EPHEMERAL_STACK)))
        assert worker["inputs"]["environment"]["variables"][ENV_MALWARE_SCAN] == "on"


def test_a_scanning_stack_pages_on_failed_scans_from_the_workers_metric(scanning_stack):
    assert_deployed_as_declared(scanning_stack, EPHEMERAL_STACK, malware_scan=True)
    [alarm] = [a["inputs"] for a in of_type(scanning_stack, "aws:cloudwatch/metricAlarm:MetricAlarm")
               if a["inputs"]["name"] == f"uploads-{EPHEMERAL_STACK}-scans-failed"]
    assert alarm["metricQueries"][0]["metric"] == {
        "namespace": NAMESPACE, "metricName": SCANS_FAILED, "stat": "Sum", "period": 300,
        "dimensions": {"service": INGEST_SERVICE, "stack": EPHEMERAL_STACK}}
    assert (alarm["threshold"], alarm["treatMissingData"]) == (1, "notBreaching")
    assert alarm["alarmDescription"].endswith("Runbook: docs/runbooks.md#scans-failed")
    body = json.loads(one(scanning_stack, "aws:cloudwatch/dashboard:Dashboard")["inputs"]["dashboardBody"])
    assert {widget["properties"]["title"] for widget in body["widgets"]} == SIGNALS | {"scans-failed", "scans-stuck"}


def test_a_schedule_sends_the_scan_sweep_to_the_ingest_queue_every_alarm_period(scanning_stack):
    names = Names(EPHEMERAL_STACK)
    rule = one(scanning_stack, "aws:cloudwatch/eventRule:EventRule", name=names.scan_sweep_rule)
    assert rule["inputs"]["scheduleExpression"] == "rate(5 minutes)"
    [alarm] = [a["inputs"] for a in of_type(scanning_stack, "aws:cloudwatch/metricAlarm:MetricAlarm")
               if a["inputs"]["name"] == f"uploads-{EPHEMERAL_STACK}-scans-stuck"]
    assert alarm["metricQueries"][0]["metric"]["period"] == 5 * 60
    assert alarm["metricQueries"][0]["metric"]["metricName"] == SCANS_STUCK
    queue = one(scanning_stack, "aws:sqs/queue:Queue", name=names.queue)
    [target] = [target for target in of_type(scanning_stack, "aws:cloudwatch/eventTarget:EventTarget")
                if rule["urn"] in target["propertyDependencies"]["rule"]]
    assert queue["urn"] in target["propertyDependencies"]["arn"]
    statements = document(attached(scanning_stack, "aws:sqs/queuePolicy:QueuePolicy", queue, "queueUrl"))["Statement"]
    from_schedule = next(statement for statement in statements if statement["Sid"] == "AllowScanSweeps")
    assert from_schedule["Condition"] == {
        "ArnEquals": {"aws:SourceArn": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/{names.scan_sweep_rule}"}}
