"""The hardening checklist as policy rules: plain functions over the stack's
resources, so `policy/__main__.py` wraps them in a PolicyPack and the tests
run them over the mocked program without the Pulumi CLI.

Every rule has the StackValidation signature `(args, report_violation)`.
Properties use the engine's camelCase names. Values still unknown during a
preview (a policy document built from ARNs) are skipped, never guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
FUNCTION = "aws:lambda/function:Function"
EVENT_SOURCE = "aws:lambda/eventSourceMapping:EventSourceMapping"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TABLE = "aws:dynamodb/table:Table"
ROUTE = "aws:apigatewayv2/route:Route"
STAGE = "aws:apigatewayv2/stage:Stage"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
USER_POOL_CLIENT = "aws:cognito/userPoolClient:UserPoolClient"
PARAMETER = "aws:ssm/parameter:Parameter"
MALWARE_PLAN = "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan"
EVENT_BUS = "aws:cloudwatch/eventBus:EventBus"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
# GuardDuty's tag and the value that releases an object (GuardDuty user guide,
# "Using tag-based access control (TBAC) with Malware Protection for S3").
SCAN_TAG = "GuardDutyMalwareScanStatus"
SCAN_CLEAN = "NO_THREATS_FOUND"

ROLE = "aws:iam/role:Role"
# The webhook delivery function's variable naming its endpoints (contract/webhooks.py;
# the pack runs on its own, without the project's modules).
WEBHOOK_ENDPOINTS = "WEBHOOK_ENDPOINTS"

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
MIN_MAX_RECEIVE_COUNT = 5
# Actions AWS does not let you scope to a resource.
UNSCOPABLE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData"}
RUNBOOK_LINK = "docs/runbooks.md#"
HTTPS_VIEWER_POLICIES = {"redirect-to-https", "https-only"}
# Log delivery lists every other destination group in one account-wide resource
# policy capped at 5,120 characters, so a busy account fails the stage update:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-and-resource-policy.html
VENDED_LOGS_PREFIX = "/aws/vendedlogs/"

Rule = Callable[[StackValidationArgs, ReportViolation], None]


def _of_type(args: StackValidationArgs, token: str) -> list[PolicyResource]:
    return [resource for resource in args.resources if resource.resource_type == token]


def _attached(args: StackValidationArgs, token: str, target: PolicyResource, prop: str) -> list[PolicyResource]:
    """Resources of `token` whose `prop` was computed from `target` (a bucket's PAB, policy...)."""
    return [
        resource for resource in _of_type(args, token)
        if any(dep.urn == target.urn for dep in resource.property_dependencies.get(prop, []))
    ]


def _document(resource: PolicyResource, prop: str = "policy") -> dict | None:
    value = resource.props.get(prop)
    return json.loads(value) if isinstance(value, str) else None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _each_bucket_has(token: str, what: str, ok: Callable[[PolicyResource], bool]) -> Rule:
    def rule(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for bucket in _of_type(args, BUCKET):
            if not any(ok(attached) for attached in _attached(args, token, bucket, "bucket")):
                report_violation(f"bucket {bucket.name} has no {what}", bucket.urn)
    return rule


def _each(token: str, problems: Callable[[PolicyResource], Iterable[str]]) -> Rule:
    def rule(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for resource in _of_type(args, token):
            for problem in problems(resource):
                report_violation(f"{resource.name}: {problem}", resource.urn)
    return rule


def _denies_plain_http(policy: PolicyResource) -> bool:
    document = _document(policy)
    if document is None:
        return True  # unknown during preview
    return any(
        statement.get("Effect") == "Deny"
        and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for statement in document.get("Statement", [])
    )


def _protected_bucket_policies(args: StackValidationArgs, plan: PolicyResource) -> list[dict]:
    """The statements of the policy of the bucket a malware protection plan protects."""
    name = (plan.props.get("protectedResource") or {}).get("s3Bucket", {}).get("bucketName")
    documents = [_document(policy) for bucket in _of_type(args, BUCKET) if bucket.props.get("bucket") == name
                 for policy in _attached(args, BUCKET_POLICY, bucket, "bucket")]
    return [statement for document in documents if document for statement in document.get("Statement", [])]


def _denies(statement: dict, action: str) -> bool:
    return statement.get("Effect") == "Deny" and statement.get("Principal") == "*" and any(
        listed in (action, "s3:*") for listed in _as_list(statement.get("Action")))


def _scan_release(what: str, ok: Callable[[dict], bool]) -> Rule:
    """Each malware protection plan's bucket has a policy statement that `ok` accepts."""
    def rule(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for plan in _of_type(args, MALWARE_PLAN):
            if not any(ok(statement) for statement in _protected_bucket_policies(args, plan)):
                report_violation(f"the bucket {plan.name} protects does not {what}", plan.urn)
    return rule


def _denies_reads_until_clean(statement: dict) -> bool:
    wanted = statement.get("Condition", {}).get("StringNotEquals", {}).get(f"s3:ExistingObjectTag/{SCAN_TAG}")
    return _denies(statement, "s3:GetObject") and wanted == SCAN_CLEAN


def _denies_tagging_but_a_role(statement: dict) -> bool:
    excepted = statement.get("Condition", {}).get("ArnNotEquals", {}).get("aws:PrincipalArn")
    return (_denies(statement, "s3:PutObjectTagging") and _denies(statement, "s3:DeleteObjectTagging")
            and isinstance(excepted, str) and ":role/" in excepted)


def _denies_uploads_carrying_the_tag(statement: dict) -> bool:
    null = statement.get("Condition", {}).get("Null", {}).get(f"s3:RequestObjectTag/{SCAN_TAG}")
    return _denies(statement, "s3:PutObject") and null == "false"


def _plan_problems(plan: PolicyResource) -> Iterable[str]:
    actions = _as_list(plan.props.get("actions") or [])
    if not any(tagging.get("status") == "ENABLED" for action in actions for tagging in action.get("taggings", [])):
        yield "does not tag scanned objects, so no bucket policy can release by the result"


def _encryption_algorithms(config: PolicyResource) -> set[str]:
    return {
        rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm")
        for rule in config.props.get("rules") or []
    }


bucket_public_access_blocked = _each_bucket_has(
    PUBLIC_ACCESS_BLOCK, "public access block with all four flags on",
    lambda block: all(block.props.get(flag) is True for flag in PUBLIC_ACCESS_FLAGS),
)
bucket_owner_enforced = _each_bucket_has(
    OWNERSHIP, "BucketOwnerEnforced ownership (ACLs disabled)",
    lambda controls: (controls.props.get("rule") or {}).get("objectOwnership") == "BucketOwnerEnforced",
)
bucket_encrypted = _each_bucket_has(
    ENCRYPTION, "default encryption",
    lambda config: bool(_encryption_algorithms(config)) and _encryption_algorithms(config) <= {"AES256", "aws:kms"},
)
bucket_tls_only = _each_bucket_has(BUCKET_POLICY, "policy denying aws:SecureTransport=false", _denies_plain_http)


def queue_encrypted_with_redrive(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    queues = _of_type(args, QUEUE)
    # A dead-letter queue is one a queue redrives to, or where a stream's mapping sends what it gives up on.
    dead_letter_urns = {dep.urn for queue in queues for dep in queue.property_dependencies.get("redrivePolicy", [])}
    dead_letter_urns |= {dep.urn for mapping in _of_type(args, EVENT_SOURCE)
                         for dep in mapping.property_dependencies.get("destinationConfig", [])}
    for queue in queues:
        if not (queue.props.get("sqsManagedSseEnabled") or queue.props.get("kmsMasterKeyId")):
            report_violation(f"queue {queue.name} is not encrypted", queue.urn)
        if queue.urn in dead_letter_urns:
            continue
        redrive = _document(queue, "redrivePolicy")
        if "redrivePolicy" not in queue.props:
            report_violation(f"queue {queue.name} has no dead-letter queue", queue.urn)
        elif redrive is not None and redrive.get("maxReceiveCount", 0) < MIN_MAX_RECEIVE_COUNT:
            report_violation(f"queue {queue.name}: maxReceiveCount below {MIN_MAX_RECEIVE_COUNT}", queue.urn)


def _function_problems(function: PolicyResource) -> Iterable[str]:
    props = function.props
    if props.get("architectures") != ["arm64"]:
        yield "must run on arm64"
    if props.get("runtime") != "python3.13":
        yield "must use the python3.13 runtime"
    if not (props.get("loggingConfig") or {}).get("logGroup"):
        yield "must log to its own log group (with retention)"
    if (props.get("tracingConfig") or {}).get("mode") != "Active":
        yield "must have X-Ray tracing active"


def _statement_problems(policy: PolicyResource) -> Iterable[str]:
    document = _document(policy)
    for statement in (document or {}).get("Statement", []):
        actions = _as_list(statement.get("Action", []))
        if any(action == "*" or action.endswith(":*") for action in actions):
            yield f"wildcard action in {actions}"
        if "*" in _as_list(statement.get("Resource", [])) and not set(actions) <= UNSCOPABLE_ACTIONS:
            yield f"resource '*' for {actions}; only {sorted(UNSCOPABLE_ACTIONS)} may use it"


def _is_stream_source(mapping: PolicyResource) -> bool:
    """A DynamoDB stream's mapping; known by what only a stream takes, since its ARN may still be unknown."""
    return "startingPosition" in mapping.props


def _event_source_problems(mapping: PolicyResource) -> Iterable[str]:
    if _is_stream_source(mapping):
        return
    if "ReportBatchItemFailures" not in (mapping.props.get("functionResponseTypes") or []):
        yield "must report batch item failures"
    if (mapping.props.get("scalingConfig") or {}).get("maximumConcurrency", 0) < 2:
        yield "must set a maximum concurrency of at least 2"


def _stream_source_problems(mapping: PolicyResource) -> Iterable[str]:
    """A stream's batch that keeps failing blocks its shard until it expires
    (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html):
    it must be isolated, retried a bounded number of times, and kept."""
    if not _is_stream_source(mapping):
        return
    props = mapping.props
    if "ReportBatchItemFailures" not in (props.get("functionResponseTypes") or []):
        yield "must report batch item failures"
    if not props.get("bisectBatchOnFunctionError"):
        yield "must bisect a failing batch"
    if not 0 <= props.get("maximumRetryAttempts", -1) <= 10_000:
        yield "must retry a bounded number of times"
    if not (((props.get("destinationConfig") or {}).get("onFailure") or {}).get("destinationArn")):
        yield "must send what it gives up on to an on-failure destination"


def bus_events_kept(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The bus keeps nothing: a rule on each bus must send its events to a log group."""
    logged = {target.props.get("eventBusName") for target in _of_type(args, EVENT_TARGET)
              if str(target.props.get("arn", "")).startswith("arn:aws:logs:")}
    for bus in _of_type(args, EVENT_BUS):
        if bus.props.get("name") not in logged:
            report_violation(f"event bus {bus.name} sends its events to no log group", bus.urn)


def notification_after_queue_policy(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for notification in _of_type(args, NOTIFICATION):
        if notification.props.get("queues") and not any(
            dep.resource_type == QUEUE_POLICY for dep in notification.dependencies
        ):
            report_violation(f"{notification.name} must depend on the queue policy", notification.urn)


def _table_problems(table: PolicyResource) -> Iterable[str]:
    if not (table.props.get("pointInTimeRecovery") or {}).get("enabled"):
        yield "needs point-in-time recovery"
    if table.props.get("billingMode") != "PAY_PER_REQUEST":
        yield "must be on-demand"


def _route_problems(route: PolicyResource) -> Iterable[str]:
    if route.props.get("authorizationType") != "JWT" or "authorizerId" not in route.props:
        yield f"route {route.props.get('routeKey')} must use the JWT authorizer"


def _stage_problems(stage: PolicyResource) -> Iterable[str]:
    settings = stage.props.get("defaultRouteSettings") or {}
    if not (settings.get("throttlingBurstLimit") and settings.get("throttlingRateLimit")):
        yield "must throttle (burst and rate)"
    if not (stage.props.get("accessLogSettings") or {}).get("format"):
        yield "must write access logs"


def stage_logs_to_vended_group(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for stage in _of_type(args, STAGE):
        for name in _access_log_groups(stage):
            if not name.startswith(VENDED_LOGS_PREFIX):
                report_violation(f"{stage.name}: access log group {name} must be under {VENDED_LOGS_PREFIX}",
                                 stage.urn)


def _access_log_groups(stage: PolicyResource) -> set[str]:
    """The names of the groups a stage logs to: the log groups its settings were
    computed from, or the group a literal ARN names."""
    names = {
        dep.props.get("name") for dep in stage.property_dependencies.get("accessLogSettings", [])
        if dep.resource_type == LOG_GROUP
    }
    arn = (stage.props.get("accessLogSettings") or {}).get("destinationArn")
    if isinstance(arn, str) and ":log-group:" in arn:
        names.add(arn.split(":log-group:", 1)[1].removesuffix(":*"))
    return {name for name in names if isinstance(name, str)}


def _distribution_problems(distribution: PolicyResource) -> Iterable[str]:
    props = distribution.props
    for behavior in [props.get("defaultCacheBehavior") or {}, *(props.get("orderedCacheBehaviors") or [])]:
        if behavior.get("viewerProtocolPolicy") not in HTTPS_VIEWER_POLICIES:
            yield "must redirect viewers to HTTPS"
        if not behavior.get("responseHeadersPolicyId"):
            yield "must attach the security response headers policy"
    for origin in props.get("origins") or []:
        if not origin.get("originAccessControlId"):
            yield f"origin {origin.get('originId')} must use an origin access control"


def _alarm_problems(alarm: PolicyResource) -> Iterable[str]:
    props = alarm.props
    if not props.get("alarmActions") or not props.get("okActions"):
        yield "must notify on both ALARM and OK"
    if not props.get("treatMissingData"):
        yield "must choose how to treat missing data"
    if RUNBOOK_LINK not in (props.get("alarmDescription") or ""):
        yield f"must link its runbook ({RUNBOOK_LINK}<signal>)"


def _client_problems(client: PolicyResource) -> Iterable[str]:
    if client.props.get("generateSecret"):
        yield "a browser client cannot keep a secret"
    if client.props.get("allowedOauthFlows") != ["code"]:
        yield "must use the authorization code flow (with PKCE) only"


def _parameter_problems(parameter: PolicyResource) -> Iterable[str]:
    # The stack keeps only secrets in Parameter Store; plain configuration is code.
    if parameter.props.get("type") != "SecureString":
        yield "must be a SecureString"


log_retention = _each(LOG_GROUP,
                      lambda group: [] if group.props.get("retentionInDays") else ["needs a retention period"])

def _webhook_functions(args: StackValidationArgs) -> list[tuple[PolicyResource, dict]]:
    """Each function told webhook endpoints, with them ({name: {url, secretParameter}})."""
    found = []
    for function in _of_type(args, FUNCTION):
        value = ((function.props.get("environment") or {}).get("variables") or {}).get(WEBHOOK_ENDPOINTS)
        if isinstance(value, str):
            found.append((function, json.loads(value)))
    return found


def webhook_https_only(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for function, endpoints in _webhook_functions(args):
        for name, endpoint in endpoints.items():
            if not str(endpoint.get("url", "")).startswith("https://"):
                report_violation(f"webhook {name} of {function.name} is not an https:// URL", function.urn)


def webhook_secrets_scoped(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The delivery function's role reads SSM parameters and Secrets Manager
    secrets only by their exact names or ARNs, and only its endpoints' secrets."""
    for function, endpoints in _webhook_functions(args):
        references = [e["secretParameter"] for e in endpoints.values()]
        secrets = {r if r.startswith("arn:") else "/" + r.lstrip("/") for r in references}
        roles = {dep.urn for dep in function.property_dependencies.get("role", [])}
        for policy in _of_type(args, ROLE_POLICY):
            if not roles & {dep.urn for dep in policy.property_dependencies.get("role", [])}:
                continue
            for statement in (_document(policy) or {}).get("Statement", []):
                if not any(action.startswith(("ssm:", "secretsmanager:"))
                           for action in _as_list(statement.get("Action", []))):
                    continue
                for resource in _as_list(statement.get("Resource", [])):
                    name = resource.partition(":parameter")[2] if ":ssm:" in resource else resource
                    if "*" in resource or name not in secrets:
                        report_violation(f"{function.name} may read {resource}, not one of its endpoints' "
                                         f"secrets {sorted(secrets)}", policy.urn)


# name -> (description, rule), in the order a reviewer reads the checklist.
RULES: dict[str, tuple[str, Rule]] = {
    "bucket-public-access-blocked": ("Every bucket blocks all four kinds of public access.",
                                     bucket_public_access_blocked),
    "bucket-owner-enforced": ("Every bucket disables ACLs (BucketOwnerEnforced).", bucket_owner_enforced),
    "bucket-encrypted": ("Every bucket encrypts at rest (SSE-S3 or SSE-KMS).", bucket_encrypted),
    "bucket-tls-only": ("Every bucket policy denies requests without TLS.", bucket_tls_only),
    "queue-encrypted-with-redrive": ("Queues are encrypted; source queues dead-letter after >= 5 receives.",
                                     queue_encrypted_with_redrive),
    "function-hardened": ("Functions run arm64 python3.13, log to their own group, trace.",
                          _each(FUNCTION, _function_problems)),
    "log-retention": ("Every log group expires its logs.", log_retention),
    "iam-least-privilege": ("No wildcard actions; '*' resources only for unscopable actions.",
                            _each(ROLE_POLICY, _statement_problems)),
    "sqs-partial-batch": ("Queue event sources report partial failures and cap concurrency.",
                          _each(EVENT_SOURCE, _event_source_problems)),
    "stream-failures-bounded": ("Stream event sources report partial failures, bisect, retry a bounded number of "
                                "times and keep what they give up on.", _each(EVENT_SOURCE, _stream_source_problems)),
    "bus-events-kept": ("Every event bus sends its events to a log group.", bus_events_kept),
    "notification-after-queue-policy": ("S3 notifications are created after the queue policy that allows them.",
                                        notification_after_queue_policy),
    "table-recoverable": ("Tables are on-demand with point-in-time recovery.", _each(TABLE, _table_problems)),
    "route-authorized": ("Every API route requires the JWT authorizer.", _each(ROUTE, _route_problems)),
    "stage-throttled-logged": ("API stages throttle and write access logs.", _each(STAGE, _stage_problems)),
    "access-logs-vended": ("API access logs go to a log group under /aws/vendedlogs/.", stage_logs_to_vended_group),
    "cdn-https-headers": ("CloudFront serves HTTPS with security headers from OAC-protected origins.",
                          _each(DISTRIBUTION, _distribution_problems)),
    "alarm-actionable": ("Alarms notify on ALARM and OK, treat missing data deliberately, link a runbook.",
                         _each(ALARM, _alarm_problems)),
    "public-client-pkce": ("The dashboard's app client has no secret and uses the code flow.",
                           _each(USER_POOL_CLIENT, _client_problems)),
    "parameter-encrypted": ("SSM parameters are SecureStrings, encrypted with KMS.",
                            _each(PARAMETER, _parameter_problems)),
    "webhook-https-only": ("Webhook endpoints are https:// URLs.", webhook_https_only),
    "webhook-secrets-scoped": ("The webhook delivery function reads only its endpoints' secret parameters.",
                               webhook_secrets_scoped),
    "scan-plan-tags": ("Malware protection plans tag what they scan.", _each(MALWARE_PLAN, _plan_problems)),
    "scan-reads-need-clean-tag": (
        "A scanned bucket denies GetObject unless the scan tag says NO_THREATS_FOUND.",
        _scan_release("deny reads until the scan tag says clean", _denies_reads_until_clean)),
    "scan-tag-set-by-plan-only": (
        "A scanned bucket denies changing object tags to all but one role (the plan's).",
        _scan_release("deny tag changes to all but the plan's role", _denies_tagging_but_a_role)),
    "scan-tag-not-uploadable": (
        "A scanned bucket denies uploads that carry the scan tag.",
        _scan_release("deny uploads carrying the scan tag", _denies_uploads_carrying_the_tag)),
}


def policies() -> list[StackValidationPolicy]:
    return [
        StackValidationPolicy(name=name, description=description, validate=rule)
        for name, (description, rule) in RULES.items()
    ]
