"""Create the stack's storage, queues and table on the emulator, from the contract.

The same names, key schema and queue settings that `components/` deploys; the
tests use these functions too, so a test fixture cannot drift from the stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from contract.events import ARCHIVE_RULE_PATTERN, STREAM_VIEW_TYPE, StreamSettings
from contract.http import BUCKET_CORS_EXPOSE, BUCKET_CORS_HEADERS, BUCKET_CORS_MAX_AGE_S, BUCKET_CORS_METHODS
from contract.ingest import IngestSettings
from contract.keys import INCOMING_PREFIX, NOTIFIED_EVENTS
from contract.names import Names
from contract.scan import result_event_pattern
from contract.table import INDEXES, KEY_ATTRIBUTES, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from contract.webhooks import DeliverySettings, WebhookEndpoint


def create_table(dynamodb, names: Names) -> str:
    def attribute(name: str) -> dict:
        return {"AttributeName": name, "AttributeType": "S"}

    def index(name: str, pk: str, sk: str) -> dict:
        return {
            "IndexName": name,
            "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }

    dynamodb.create_table(
        TableName=names.table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[attribute(k) for k in KEY_ATTRIBUTES],
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[index(name, *keys) for name, keys in INDEXES.items()],
        # The lifecycle events' source (docs/events.md).
        StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE},
    )
    dynamodb.update_time_to_live(
        TableName=names.table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return names.table


def create_queues(sqs, names: Names, ingest: IngestSettings) -> tuple[str, str, str]:
    """The ingest queue and its DLQ: (queue url, queue arn, dead-letter queue url)."""
    return _queue_with_dlq(sqs, names.queue, names.dead_letter_queue, ingest)


def create_webhook_queues(sqs, names: Names, delivery: DeliverySettings) -> tuple[str, str, str]:
    """The webhook delivery queue and its DLQ, as `create_queues` returns them."""
    return _queue_with_dlq(sqs, names.webhook_queue, names.webhook_dead_letter_queue, delivery)


def _queue_with_dlq(sqs, name: str, dlq_name: str, settings: IngestSettings | DeliverySettings
                    ) -> tuple[str, str, str]:
    dlq_url = sqs.create_queue(
        QueueName=dlq_name,
        Attributes={"MessageRetentionPeriod": str(settings.dlq_retention_s)},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(settings.visibility_timeout_s),
            "MessageRetentionPeriod": str(settings.message_retention_s),
            "ReceiveMessageWaitTimeSeconds": str(settings.receive_wait_s),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}
            ),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return queue_url, queue_arn, dlq_url


def create_bucket(s3, bucket: str, queue_arn: str | None, cors_origins: list[str] = ()) -> str:
    s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )
    if cors_origins:
        s3.put_bucket_cors(
            Bucket=bucket,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": list(cors_origins),
                        "AllowedMethods": list(BUCKET_CORS_METHODS),
                        "AllowedHeaders": list(BUCKET_CORS_HEADERS),
                        "ExposeHeaders": list(BUCKET_CORS_EXPOSE),
                        "MaxAgeSeconds": BUCKET_CORS_MAX_AGE_S,
                    }
                ]
            },
        )
    if queue_arn:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": list(NOTIFIED_EVENTS),
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": INCOMING_PREFIX}]}},
                    }
                ]
            },
        )
    return bucket


def create_scan_result_rule(events, names: Names, bucket: str, queue_arn: str) -> None:
    """GuardDuty's scan results for the bucket, to the ingest queue: the rule
    the Pulumi program makes when `uploads:malwareScan` is on."""
    events.put_rule(Name=names.scan_result_rule, EventPattern=json.dumps(result_event_pattern(bucket)),
                    State="ENABLED")
    events.put_targets(Rule=names.scan_result_rule, Targets=[{"Id": "ingest-queue", "Arn": queue_arn}])


def create_event_bus(events, logs, names: Names, region: str, account: str) -> tuple[str, str]:
    """The stack's bus, and the rule that keeps every event on it in a log
    group for `ops events`: what the Pulumi program's Events component makes.
    Returns (bus name, bus arn)."""
    bus_arn = events.create_event_bus(Name=names.event_bus)["EventBusArn"]
    logs.create_log_group(logGroupName=names.event_log_group)
    events.put_rule(Name=names.event_log_rule, EventBusName=names.event_bus,
                    EventPattern=json.dumps(ARCHIVE_RULE_PATTERN), State="ENABLED")
    events.put_targets(Rule=names.event_log_rule, EventBusName=names.event_bus, Targets=[{
        "Id": "event-log",
        "Arn": f"arn:aws:logs:{region}:{account}:log-group:{names.event_log_group}"}])
    return names.event_bus, bus_arn


def create_events_dead_letter_queue(sqs, names: Names, settings: StreamSettings) -> tuple[str, str]:
    """Returns (url, arn) of the queue the stream mapping sends batches it gave up on."""
    url = sqs.create_queue(QueueName=names.events_dead_letter_queue,
                           Attributes={"MessageRetentionPeriod": str(settings.dlq_retention_s)})["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def create_webhook_rules(events, names: Names, endpoints: Iterable[WebhookEndpoint], queue_arn: str) -> None:
    """A rule per endpoint on the stack's bus, for the detail types it asked
    for, to the delivery queue with the endpoint's name around the event: the
    rules and targets the Pulumi program makes from `uploads:webhooks`."""
    for endpoint in endpoints:
        rule = names.webhook_rule(endpoint.name)
        events.put_rule(Name=rule, EventBusName=names.event_bus, EventPattern=json.dumps(endpoint.event_pattern),
                        State="ENABLED")
        events.put_targets(Rule=rule, EventBusName=names.event_bus,
                           Targets=[{"Id": "delivery-queue", "Arn": queue_arn,
                                     "InputTransformer": endpoint.input_transformer}])
