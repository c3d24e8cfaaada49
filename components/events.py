"""Lifecycle events, owned whole: the table's stream feeds the event producer
through an event source mapping, the producer puts each recorded outcome on
the stack's own bus, a rule keeps every event in a log group for `ops
events`, a DLQ keeps the batches the mapping gave up on, and the schema
registry holds each detail type's schema (docs/events.md).

Every setting of the mapping comes from `contract.events.StreamSettings`,
which the local emulator (local/streams.py) runs too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.lambda_function import PythonFunction, PythonFunctionArgs
from components.packaging import LambdaPackage
from contract import events, permissions
from contract.events import ARCHIVE_RULE_PATTERN, DETAIL_TYPES, StreamSettings
from contract.functions import ENV_EVENT_BUS, EVENTS
from contract.names import Names

# What the registry accepts ("Creating an event schema in Amazon EventBridge"):
# OpenAPI 3 or JSON Schema draft 4. The committed schemas use only keywords
# the two drafts share, so draft 4 is the same schema under its own name.
REGISTRY_SCHEMA_TYPE = "JSONSchemaDraft4"
DRAFT_4 = "http://json-schema.org/draft-04/schema#"


def registry_schema(detail_type: str) -> str:
    """The committed schema as the registry takes it: draft 4 names its id `id`."""
    schema = events.schema(detail_type)
    schema["$schema"] = DRAFT_4
    schema["id"] = schema.pop("$id")
    return json.dumps(schema, indent=2)


@dataclass
class LifecycleEventsArgs:
    names: Names
    settings: StreamSettings
    # The metadata table, with its stream on (components/table.py).
    table: aws.dynamodb.Table
    package: LambdaPackage
    # Values for the producer's environment variables, besides the bus's name.
    variables: Mapping[str, pulumi.Input[str]]
    log_retention_days: int


class LifecycleEvents(pulumi.ComponentResource):
    bus: aws.cloudwatch.EventBus
    log_group: aws.cloudwatch.LogGroup
    dead_letter_queue: aws.sqs.Queue
    producer: PythonFunction

    def __init__(self, name: str, args: LifecycleEventsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:events:LifecycleEvents", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        names, settings = args.names, args.settings

        self.bus = aws.cloudwatch.EventBus(f"{name}-bus", name=names.event_bus, opts=child)

        # The bus keeps nothing: this group keeps every event for `ops events`.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-log", name=names.event_log_group, retention_in_days=args.log_retention_days, opts=child)
        log_rule = aws.cloudwatch.EventRule(
            f"{name}-log-rule",
            name=names.event_log_rule,
            event_bus_name=self.bus.name,
            description="Every lifecycle event, to the log group ops events reads",
            event_pattern=json.dumps(ARCHIVE_RULE_PATTERN),
            opts=child,
        )
        # EventBridge writes to a log group under the group's resource policy,
        # here for this rule only ("Permissions for Amazon CloudWatch Logs" in
        # the EventBridge user guide).
        log_policy = aws.cloudwatch.LogResourcePolicy(
            f"{name}-log-policy",
            policy_name=f"{names.prefix}-events-to-logs",
            policy_document=pulumi.Output.json_dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "EventBridgeWritesTheEventLog",
                    "Effect": "Allow",
                    "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": pulumi.Output.concat(self.log_group.arn, ":*"),
                    "Condition": {"ArnEquals": {"aws:SourceArn": log_rule.arn}},
                }],
            }),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-log-target", rule=log_rule.name, event_bus_name=self.bus.name, arn=self.log_group.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]))

        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            name=names.events_dead_letter_queue,
            message_retention_seconds=settings.dlq_retention_s,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.producer = PythonFunction(
            f"{name}-producer",
            PythonFunctionArgs(
                names=names,
                spec=EVENTS,
                package=args.package,
                log_retention_days=args.log_retention_days,
                variables={**args.variables, ENV_EVENT_BUS: self.bus.name},
                resources={
                    permissions.TABLE_STREAM: args.table.arn.apply(lambda arn: f"{arn}/stream/*"),
                    permissions.EVENT_BUS: self.bus.arn,
                    permissions.EVENTS_DEAD_LETTER_QUEUE: self.dead_letter_queue.arn,
                },
            ),
            opts=child,
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-stream",
            event_source_arn=args.table.stream_arn,
            function_name=self.producer.function.arn,
            # Every record the stream holds when the mapping starts, not only later ones.
            starting_position="TRIM_HORIZON",
            batch_size=settings.batch_size,
            maximum_batching_window_in_seconds=settings.batching_window_s,
            function_response_types=["ReportBatchItemFailures"],
            bisect_batch_on_function_error=settings.bisect_on_error,
            maximum_retry_attempts=settings.maximum_retry_attempts,
            maximum_record_age_in_seconds=settings.maximum_record_age_s,
            destination_config={"on_failure": {"destination_arn": self.dead_letter_queue.arn}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.producer.role_policy]),
        )

        registry = aws.schemas.Registry(
            f"{name}-schemas", name=f"{names.prefix}-events",
            description="The lifecycle events of the uploads stack (docs/events.md)", opts=child)
        for detail_type in DETAIL_TYPES:
            aws.schemas.Schema(
                f"{name}-schema-{events.schema_name(detail_type)}",
                name=events.schema_name(detail_type),
                registry_name=registry.name,
                type=REGISTRY_SCHEMA_TYPE,
                description=f"{detail_type}, as EventBridge delivers it",
                content=registry_schema(detail_type),
                opts=child,
            )
        self.register_outputs({"busName": self.bus.name, "busArn": self.bus.arn,
                               "logGroup": self.log_group.name})
