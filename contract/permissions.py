"""Who may do what, defined once: each function's role, the on-call
operator's policy, and the bucket policies, as IAM statement templates.

A template names resources by what they are (`Ref(BUCKET, "/incoming/*")`,
`Ref(TABLE)`), never by ARN. Each side renders the same templates with its
own values:

- `components/` with Pulumi Outputs (components/iam.py), into the role
  policies and bucket policies it deploys;
- `local/` with the local stack's ARNs (`arns` below), into the policies its
  IAM fronts enforce (local/iam/);
- `docs/runbooks.md` with placeholders (`arns(Names("<stack>"), "<region>",
  "<account>")`), for the policy an operator asks to be given.

So a grant cannot differ between what is deployed and what the local stack
enforces, and `tests/iam/test_least_privilege.py` holds every grant here
against the calls the test suite really made.

Every statement has a `Sid`: decisions are recorded against it, and a reader
can name the grant that allowed a call. Statements naming an optional value
(the customer-managed KMS key) are left out when it has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contract import metrics
from contract.keys import INCOMING_PREFIX, THUMBNAIL_PREFIX
from contract.names import Names
from contract.scan import RESULT_NO_THREATS, TAG_KEY
from contract.table import ATTENTION_INDEX, LIST_INDEX, SCAN_INDEX
from contract.webhooks import in_secrets_manager

VERSION = "2012-10-17"

# What a template can name. Each side supplies the ARN (or value) of each.
BUCKET = "bucket"  # arn:aws:s3:::<upload bucket>
SITE_BUCKET = "siteBucket"  # arn:aws:s3:::<dashboard bucket>
TABLE = "table"  # arn:aws:dynamodb:<region>:<account>:table/<table>
QUEUE = "queue"  # the ingest queue's ARN
DEAD_LETTER_QUEUE = "deadLetterQueue"
TABLE_STREAM = "tableStream"  # the table's streams: <table arn>/stream/*
EVENT_BUS = "eventBus"  # the stack's own EventBridge bus
EVENTS_DEAD_LETTER_QUEUE = "eventsDeadLetterQueue"  # the event producer's on-failure destination
EVENT_LOG_GROUP = "eventLogGroup"  # where a rule on the bus keeps every event, for `ops events`
WEBHOOK_QUEUE = "webhookQueue"  # the webhook delivery queue's ARN
WEBHOOK_DEAD_LETTER_QUEUE = "webhookDeadLetterQueue"
# SSM parameters by name: arn:aws:ssm:<region>:<account>:parameter, then the name (`parameter()`).
PARAMETERS = "parameters"
CURSOR_PARAMETER = "cursorParameter"  # the SSM parameter that holds the cursor secret
LOG_GROUP = "logGroup"  # the function's own log group
DISTRIBUTION = "distribution"  # the dashboard's CloudFront distribution
KMS_KEY = "kmsKey"  # a customer-managed key, when the stack has one
KMS_S3_SERVICE = "kmsS3Service"  # s3.<the key's region>.amazonaws.com
INGEST_ROLE = "ingestRole"  # the ingest worker's execution role
SCAN_ROLE = "malwareScanRole"  # the role GuardDuty's malware protection plan acts with
# The EventBridge rules GuardDuty manages for a plan: arn:aws:events:<region>:<account>:rule/DO-NOT-DELETE-...
GUARDDUTY_MANAGED_RULES = "guardDutyManagedRules"
GUARDDUTY_MANAGED_RULE_PREFIX = "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3"
# Values a stack may lack: a statement that names one is left out without it.
OPTIONAL = frozenset({KMS_KEY, KMS_S3_SERVICE})

ONCALL = "oncall"
# X-Ray cannot be scoped to a resource; it is the one wildcard a function gets.
# Metrics need none: Powertools writes them as EMF lines to the log group.
TRACING_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


@dataclass(frozen=True)
class Ref:
    """A value a template names by its role: `symbol`'s value, then `suffix`
    (objects under a prefix, a table's index, a log group's streams)."""

    symbol: str
    suffix: str = ""


def allow(sid: str, actions: Sequence[str], resources: Sequence[Ref | str],
          condition: Mapping[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def under(prefix: str) -> Ref:
    """The upload bucket's objects under a key prefix."""
    return Ref(BUCKET, f"/{prefix}*")


def parameter(name: str) -> Ref:
    """An SSM parameter by name; names that start with "/" are appended as they are."""
    return Ref(PARAMETERS, name if name.startswith("/") else f"/{name}")


# --- Pieces more than one policy uses ---------------------------------------------------


def delete_for_good(prefixes: Sequence[str]) -> list[dict[str, Any]]:
    """What `workers.storage.objects.delete_all_versions` needs under `prefixes`:
    list the key's versions, then DeleteObjects, which wants DeleteObject on
    each key and DeleteObjectVersion on each version."""
    return [
        allow("DeleteForGood", ["s3:DeleteObject", "s3:DeleteObjectVersion"], [under(p) for p in prefixes]),
        allow("ListVersionsToDelete", ["s3:ListBucketVersions"], [Ref(BUCKET)],
              {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}),
    ]


# Reading and writing SSE-KMS objects needs the key too, and only that key, and
# only through S3 in the key's region: the role cannot use it directly or via
# another service.
S3_KMS = allow("UseTheKeyThroughS3", ["kms:Decrypt", "kms:GenerateDataKey"], [Ref(KMS_KEY)],
               {"StringEquals": {"kms:ViaService": Ref(KMS_S3_SERVICE)}})

# Every function's own log group, written by the Lambda runtime, and its traces.
LAMBDA_BASE = [
    allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [Ref(LOG_GROUP, ":*")]),
    allow("Tracing", TRACING_ACTIONS, ["*"]),
]

# --- The functions' roles ------------------------------------------------------------------

API = [
    *LAMBDA_BASE,
    # Presigned URLs act with the signer's rights, so the role holds what the
    # clients' uploads and downloads need. PutObject is the action behind
    # presigned POST, CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
    allow("UploadIncoming", ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
          [under(INCOMING_PREFIX)]),
    # Downloads are pinned to the version the worker examined.
    allow("DownloadExaminedVersions", ["s3:GetObjectVersion"], [under(INCOMING_PREFIX)]),
    # Thumbnail links are presigned GETs of the (only) version the worker wrote.
    allow("ShowThumbnails", ["s3:GetObject"], [under(THUMBNAIL_PREFIX)]),
    # Deleting a file removes every version of the object and of its thumbnail;
    # listing a key's versions also tells whether an expired ticket's object
    # arrived after all (workers/storage/objects.exists).
    *delete_for_good([INCOMING_PREFIX, THUMBNAIL_PREFIX]),
    # DeleteItem: the idempotency utility drops its record when a request fails, and a
    # released ticket's reservation goes. ConditionCheckItem: a ticket whose record TTL
    # reaped is given back only while there is still no record.
    allow("Records", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                      "dynamodb:ConditionCheckItem"], [Ref(TABLE)]),
    # On the table: a user's expired tickets; on the index: a user's files.
    allow("ListRecords", ["dynamodb:Query"], [Ref(TABLE), Ref(TABLE, f"/index/{LIST_INDEX}")]),
    allow("ReadCursorSecret", ["ssm:GetParameter"], [Ref(CURSOR_PARAMETER)]),
    # SSM binds each SecureString to its ARN in the encryption context, so this
    # grant decrypts this parameter and no other data under the key.
    allow("DecryptCursorSecret", ["kms:Decrypt"], [Ref(KMS_KEY)],
          {"StringEquals": {"kms:EncryptionContext:PARAMETER_ARN": Ref(CURSOR_PARAMETER)}}),
    S3_KMS,
]

INGEST = [
    *LAMBDA_BASE,
    # What the event source mapping does with the worker's role (AWS's poller,
    # or local/esm.py): it validates the queue, receives, and deletes what succeeded.
    allow("ConsumeQueue", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                           "sqs:GetQueueAttributes"], [Ref(QUEUE)]),
    # GetObject covers HeadObject and ranged reads; events name the version
    # (the bucket is versioned), which needs GetObjectVersion.
    allow("ReadIncoming", ["s3:GetObject", "s3:GetObjectVersion"], [under(INCOMING_PREFIX)]),
    allow("WriteThumbnails", ["s3:PutObject"], [under(THUMBNAIL_PREFIX)]),
    # Thumbnails of deleted files, and objects that arrive for a file already
    # deleted, are removed with all their versions.
    *delete_for_good([INCOMING_PREFIX, THUMBNAIL_PREFIX]),
    # Without ListBucket, S3 answers 403 instead of 404 for a deleted object,
    # and the worker could not tell "gone" (permanent) from "denied".
    allow("TellGoneFromDenied", ["s3:ListBucket"], [Ref(BUCKET)]),
    # DeleteItem: an arriving object's ticket reservation goes with the write that records it.
    allow("Records", ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], [Ref(TABLE)]),
    # The scan sweep counts the files waiting past the bound (docs/runbooks.md#scans-stuck).
    allow("CountStuckScans", ["dynamodb:Query"], [Ref(TABLE, f"/index/{SCAN_INDEX}")]),
    S3_KMS,
]

# The lifecycle event producer (docs/events.md).
EVENTS = [
    *LAMBDA_BASE,
    # What the stream's event source mapping does with this role (AWS's poller,
    # or local/streams.py), as AWSLambdaDynamoDBExecutionRole lists it, on
    # this table's streams only.
    allow("ReadTheStream", ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"],
          [Ref(TABLE_STREAM)]),
    allow("PutLifecycleEvents", ["events:PutEvents"], [Ref(EVENT_BUS)]),
    # The mapping's on-failure destination is sent to with the function's role.
    allow("DeadLetterFailedBatches", ["sqs:SendMessage"], [Ref(EVENTS_DEAD_LETTER_QUEUE)]),
]

ROLES = {metrics.API_SERVICE: API, metrics.INGEST_SERVICE: INGEST, metrics.EVENTS_SERVICE: EVENTS}


def webhook_delivery(secrets: Sequence[str]) -> list[dict[str, Any]]:
    """The webhook delivery function's role: its queue, as the event source
    mapping and its backoff use it, and the secrets of the stack's own
    endpoints (`uploads:webhooks`: SSM parameter names or Secrets Manager
    ARNs), no other."""
    in_ssm = [parameter(name) for name in sorted(set(secrets)) if not in_secrets_manager(name)]
    in_secrets_manager_ = sorted({arn for arn in secrets if in_secrets_manager(arn)})
    return [
        *LAMBDA_BASE,
        # The mapping receives, deletes what succeeded and reads the queue's
        # attributes; the function hides a failed delivery until its next try.
        allow("ConsumeQueue", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                               "sqs:GetQueueAttributes"], [Ref(WEBHOOK_QUEUE)]),
        *([
            allow("ReadEndpointSecrets", ["ssm:GetParameter"], in_ssm),
            # As for the cursor secret: the key decrypts these parameters and nothing else.
            allow("DecryptEndpointSecrets", ["kms:Decrypt"], [Ref(KMS_KEY)],
                  {"StringEquals": {"kms:EncryptionContext:PARAMETER_ARN": in_ssm}}),
        ] if in_ssm else []),
        # A secret under a customer-managed key also needs kms:Decrypt through
        # Secrets Manager, which the key's own policy grants where the secret is made.
        *([allow("ReadEndpointSecretsInSecretsManager", ["secretsmanager:GetSecretValue"], in_secrets_manager_)]
          if in_secrets_manager_ else []),
    ]


# --- The on-call operator ------------------------------------------------------------------

# What `python -m ops` needs, every command of it, and no more: docs/runbooks.md
# shows it rendered for a stack (`tests/ops/test_runbooks.py` keeps the two equal).
# Read-mostly; the writes are the runbooks' remedies: redrive and purge the DLQ,
# mark a record for replay and copy its object onto itself, charge a file once.
OPERATOR = [
    allow("QueueDepths", ["sqs:GetQueueAttributes"], [Ref(QUEUE), Ref(DEAD_LETTER_QUEUE)]),
    # Peek (receive, then visible again at once), redrive (SQS's move task, or
    # receive, send, delete) and purge.
    allow("WorkTheDeadLetterQueue", ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                                     "sqs:PurgeQueue", "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks"],
          [Ref(DEAD_LETTER_QUEUE)]),
    allow("RedriveToTheQueue", ["sqs:SendMessage"], [Ref(QUEUE)]),
    # ops webhooks: the delivery queues' depths, the dead-lettered deliveries
    # by endpoint (peek), and their redrive (receive, send, delete).
    allow("WebhookQueueDepths", ["sqs:GetQueueAttributes"], [Ref(WEBHOOK_QUEUE), Ref(WEBHOOK_DEAD_LETTER_QUEUE)]),
    allow("WorkTheWebhookDeadLetterQueue", ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility",
                                            "sqs:DeleteMessage"], [Ref(WEBHOOK_DEAD_LETTER_QUEUE)]),
    allow("RedriveWebhooks", ["sqs:SendMessage"], [Ref(WEBHOOK_QUEUE)]),
    # ops webhooks finds the endpoints the delivery function counted for (cannot be scoped to a resource).
    allow("FindWebhookMetrics", ["cloudwatch:ListMetrics"], ["*"]),
    # failed, stuck, quarantined and status read the sparse index; usage reads a user's partition.
    allow("ReadRecords", ["dynamodb:Query"], [Ref(TABLE, f"/index/{ATTENTION_INDEX}"), Ref(TABLE),
                                              Ref(TABLE, f"/index/{SCAN_INDEX}")]),
    # `usage backfill` without --owner, once per stack: the only Scan.
    allow("BackfillCharges", ["dynamodb:Scan"], [Ref(TABLE)]),
    # purge-infected finds infected files (in no index), then deletes their objects for good;
    # the worker does the rest, as for a user's delete.
    allow("FindInfectedFiles", ["dynamodb:Scan"], [Ref(TABLE)]),
    *delete_for_good([INCOMING_PREFIX]),
    # A replay marks its record; a backfill charges a file and its owner's usage.
    allow("MarkRecords", ["dynamodb:GetItem", "dynamodb:UpdateItem"], [Ref(TABLE)]),
    # A replay heads the object, then copies the version it saw onto the key.
    allow("ReplayObjects", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [under(INCOMING_PREFIX)]),
    # "never uploaded" (404) and "denied" (403) must differ for `stuck` and `replay`.
    allow("TellGoneFromDenied", ["s3:ListBucket"], [Ref(BUCKET)]),
    # ops rescan: GuardDuty scans an object again (an account-level action, with no resource).
    allow("RescanObjects", ["guardduty:SendObjectMalwareScan"], ["*"]),
    # ops events: a file's recent events, from the bus's log group.
    allow("ReadEvents", ["logs:FilterLogEvents"], [Ref(EVENT_LOG_GROUP, ":*")]),
    # Neither can be scoped to a resource.
    allow("ReadAlarms", ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricStatistics"], ["*"]),
    S3_KMS,
]

# --- GuardDuty's malware protection plan -----------------------------------------------------
# The plan's role, as GuardDuty's user guide gives it ("Create or update IAM role
# policy"), narrowed to the plan's prefix: GuardDuty manages an EventBridge rule
# to hear of new objects, turns on the bucket's EventBridge notifications,
# checks it owns the bucket with a validation object, reads what it scans and
# tags it. No local call makes these (the local plan is AWS's side, not a
# principal of the stack), so tests/infra checks them instead of
# tests/iam/test_least_privilege.py.
MALWARE_SCAN = [
    allow("ManageTheScanRule", ["events:PutRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets"],
          [Ref(GUARDDUTY_MANAGED_RULES)],
          {"StringLike": {"events:ManagedBy": "malware-protection-plan.guardduty.amazonaws.com"}}),
    allow("WatchTheScanRule", ["events:DescribeRule", "events:ListTargetsByRule"], [Ref(GUARDDUTY_MANAGED_RULES)]),
    allow("SendBucketEventsToEventBridge", ["s3:PutBucketNotification", "s3:GetBucketNotification"], [Ref(BUCKET)]),
    allow("PutValidationObject", ["s3:PutObject"], [Ref(BUCKET, "/malware-protection-resource-validation-object")]),
    allow("CheckBucketOwnership", ["s3:ListBucket"], [Ref(BUCKET)]),
    allow("ScanIncoming", ["s3:GetObject", "s3:GetObjectVersion"], [under(INCOMING_PREFIX)]),
    allow("TagScannedObjects", ["s3:GetObjectTagging", "s3:GetObjectVersionTagging", "s3:PutObjectTagging",
                                "s3:PutObjectVersionTagging"], [under(INCOMING_PREFIX)]),
    S3_KMS,
]

# --- Bucket policies ------------------------------------------------------------------------


def deny_insecure_transport(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [Ref(bucket), Ref(bucket, "/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def scan_release(prefix: str = INCOMING_PREFIX) -> list[dict[str, Any]]:
    """GuardDuty's tag-based access, as its user guide gives it ("Using
    tag-based access control (TBAC) with Malware Protection for S3"), on the
    plan's prefix: nothing the scan did not find clean is read, only the
    plan's role writes its tag, and no upload carries it.

    The worker is the one reader excepted: it extracts while the scan runs
    (ordering extraction after the scan would add the scan's latency to every
    file), and it only reads, through its own role; nothing it makes from an
    unscanned file is released before the file is (workers/api/files.py)."""
    objects = Ref(BUCKET, f"/{prefix}*")
    tag = TAG_KEY
    return [
        {
            "Sid": "DenyReadsUnlessScannedClean",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": objects,
            "Condition": {
                "StringNotEquals": {f"s3:ExistingObjectTag/{tag}": RESULT_NO_THREATS},
                "ArnNotEquals": {"aws:PrincipalArn": [Ref(INGEST_ROLE), Ref(SCAN_ROLE)]},
            },
        },
        {
            "Sid": "DenyScanTagChangesButThePlans",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
                       "s3:DeleteObjectVersionTagging"],
            "Resource": objects,
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": Ref(SCAN_ROLE)}},
        },
        {
            "Sid": "DenyUploadsCarryingTheScanTag",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"Null": {f"s3:RequestObjectTag/{tag}": "false"}},
        },
    ]


def upload_bucket_policy(malware_scan: bool) -> list[dict[str, Any]]:
    """The upload bucket grants nothing itself (the roles' own policies do);
    it denies plain HTTP, and with scanning on, what `scan_release` denies."""
    return [deny_insecure_transport(BUCKET), *(scan_release() if malware_scan else [])]

SITE_BUCKET_POLICY = [
    deny_insecure_transport(SITE_BUCKET),
    {
        "Sid": "AllowCloudFrontRead",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": Ref(SITE_BUCKET, "/*"),
        "Condition": {"StringEquals": {"AWS:SourceArn": Ref(DISTRIBUTION)}},
    },
]

# --- Rendering -------------------------------------------------------------------------------


def document(statements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": list(statements)}


def refs(value: Any) -> set[Ref]:
    """Every Ref in a template (a statement, or any part of one)."""
    if isinstance(value, Ref):
        return {value}
    if isinstance(value, Mapping):
        return set().union(*(refs(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(refs(v) for v in value)) if value else set()
    return set()


def render(statements: Sequence[Mapping[str, Any]], values: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """The statements with every Ref replaced by its value. A statement naming
    an OPTIONAL value that is None is left out; any other value missing is an error."""
    rendered = []
    for statement in statements:
        named = {ref.symbol for ref in refs(statement)}
        missing = sorted(symbol for symbol in named if symbol not in values
                         or (values[symbol] is None and symbol not in OPTIONAL))
        if missing:
            raise KeyError(f"statement {statement.get('Sid')!r} needs a value for {missing}")
        if any(values[symbol] is None for symbol in named):
            continue
        rendered.append(_substitute(statement, values))
    return rendered


def _substitute(value: Any, values: Mapping[str, str | None]) -> Any:
    if isinstance(value, Ref):
        return f"{values[value.symbol]}{value.suffix}"
    if isinstance(value, Mapping):
        return {key: _substitute(item, values) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_substitute(item, values) for item in value]
    return value


def kms_values(kms_key_arn: str | None) -> dict[str, str | None]:
    """The KMS key and the S3 endpoint that may use it: SSE-KMS needs the key
    in the bucket's region, which is the key ARN's."""
    if kms_key_arn is None:
        return {KMS_KEY: None, KMS_S3_SERVICE: None}
    return {KMS_KEY: kms_key_arn, KMS_S3_SERVICE: f"s3.{kms_key_arn.split(':')[3]}.amazonaws.com"}


def arns(names: Names, region: str, account: str, *, function: str | None = None,
         kms_key_arn: str | None = None) -> dict[str, str | None]:
    """Every value a template names, for one stack, as AWS spells the ARNs.
    `function` names the function whose log group `LOG_GROUP` is."""
    values: dict[str, str | None] = {
        BUCKET: f"arn:aws:s3:::{names.upload_bucket(account)}",
        SITE_BUCKET: f"arn:aws:s3:::{names.site_bucket(account)}",
        TABLE: f"arn:aws:dynamodb:{region}:{account}:table/{names.table}",
        QUEUE: f"arn:aws:sqs:{region}:{account}:{names.queue}",
        DEAD_LETTER_QUEUE: f"arn:aws:sqs:{region}:{account}:{names.dead_letter_queue}",
        TABLE_STREAM: f"arn:aws:dynamodb:{region}:{account}:table/{names.table}/stream/*",
        EVENT_BUS: f"arn:aws:events:{region}:{account}:event-bus/{names.event_bus}",
        EVENTS_DEAD_LETTER_QUEUE: f"arn:aws:sqs:{region}:{account}:{names.events_dead_letter_queue}",
        EVENT_LOG_GROUP: f"arn:aws:logs:{region}:{account}:log-group:{names.event_log_group}",
        WEBHOOK_QUEUE: f"arn:aws:sqs:{region}:{account}:{names.webhook_queue}",
        WEBHOOK_DEAD_LETTER_QUEUE: f"arn:aws:sqs:{region}:{account}:{names.webhook_dead_letter_queue}",
        PARAMETERS: f"arn:aws:ssm:{region}:{account}:parameter",
        # Parameter names that start with "/" are appended as they are.
        CURSOR_PARAMETER: f"arn:aws:ssm:{region}:{account}:parameter{names.cursor_secret_parameter}",
        # Roles are named after what assumes them: a function's is the function's name.
        INGEST_ROLE: f"arn:aws:iam::{account}:role/{names.ingest_function}",
        SCAN_ROLE: f"arn:aws:iam::{account}:role/{names.malware_scan_role}",
        GUARDDUTY_MANAGED_RULES: f"arn:aws:events:{region}:{account}:rule/{GUARDDUTY_MANAGED_RULE_PREFIX}*",
        **kms_values(kms_key_arn),
    }
    if function is not None:
        values[LOG_GROUP] = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}"
    return values
