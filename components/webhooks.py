"""Webhook delivery, owned whole: a rule per endpoint on the stack's bus, one
delivery queue with its DLQ, and the delivery function behind an event
source mapping (docs/events.md#webhooks).

Timings come from `DeliverySettings`: the visibility timeout and the
maxReceiveCount are derived from the function's timeout and the retry schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.lambda_function import PythonFunction, PythonFunctionArgs
from components.packaging import LambdaPackage
from contract import permissions
from contract.functions import webhook_delivery
from contract.names import Names
from contract.webhooks import (
    ENV_WEBHOOK_DELIVERY,
    ENV_WEBHOOK_ENDPOINTS,
    DeliverySettings,
    WebhookEndpoint,
    endpoints_variable,
)


@dataclass
class WebhookDeliveryArgs:
    names: Names
    delivery: DeliverySettings
    endpoints: tuple[WebhookEndpoint, ...]
    event_bus_name: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    package: LambdaPackage
    # Values for the function's environment variables (the stack's name among them).
    variables: Mapping[str, pulumi.Input[str]]
    kms_key_arn: str | None
    log_retention_days: int


class WebhookDelivery(pulumi.ComponentResource):
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    function: PythonFunction

    def __init__(self, name: str, args: WebhookDeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:webhooks:WebhookDelivery", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        delivery, names = args.delivery, args.names

        # SQS-managed encryption: EventBridge cannot send to a queue under the
        # AWS-managed aws/sqs key, as S3 cannot for the ingest queue.
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            name=names.webhook_dead_letter_queue,
            message_retention_seconds=delivery.dlq_retention_s,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            name=names.webhook_queue,
            visibility_timeout_seconds=delivery.visibility_timeout_s,
            message_retention_seconds=delivery.message_retention_s,
            receive_wait_time_seconds=delivery.receive_wait_s,
            sqs_managed_sse_enabled=True,
            redrive_policy=pulumi.Output.json_dumps({
                "deadLetterTargetArn": self.dead_letter_queue.arn,
                "maxReceiveCount": delivery.max_receive_count,
            }),
            opts=child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps({
                "redrivePermission": "byQueue",
                "sourceQueueArns": [self.queue.arn],
            }),
            opts=child,
        )
        rules = {
            endpoint.name: aws.cloudwatch.EventRule(
                f"{name}-{endpoint.name}-rule",
                name=names.webhook_rule(endpoint.name),
                event_bus_name=args.event_bus_name,
                description=f"Lifecycle events for the webhook {endpoint.name}, to the delivery queue",
                event_pattern=pulumi.Output.json_dumps(endpoint.event_pattern),
                opts=child,
            )
            for endpoint in args.endpoints
        }
        # Only the endpoints' rules may send, and only to this queue.
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "AllowWebhookRules",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": self.queue.arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": [rule.arn for rule in rules.values()]}},
                }],
            }),
            opts=child,
        )
        for endpoint in args.endpoints:
            transformer = endpoint.input_transformer
            aws.cloudwatch.EventTarget(
                f"{name}-{endpoint.name}-target",
                rule=rules[endpoint.name].name,
                event_bus_name=args.event_bus_name,
                arn=self.queue.arn,
                input_transformer={"input_template": transformer["InputTemplate"]},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
            )

        self.function = PythonFunction(
            f"{name}-function",
            PythonFunctionArgs(
                names=names,
                spec=webhook_delivery(delivery),
                package=args.package,
                log_retention_days=args.log_retention_days,
                variables={**args.variables, ENV_WEBHOOK_ENDPOINTS: endpoints_variable(args.endpoints),
                           ENV_WEBHOOK_DELIVERY: delivery.variable},
                statements=permissions.webhook_delivery([e.secret_parameter for e in args.endpoints]),
                resources={
                    permissions.WEBHOOK_QUEUE: self.queue.arn,
                    permissions.PARAMETERS: pulumi.Output.concat(
                        "arn:aws:ssm:", args.region, ":", args.account_id, ":parameter"),
                    **permissions.kms_values(args.kms_key_arn),
                },
            ),
            opts=child,
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-event-source",
            event_source_arn=self.queue.arn,
            function_name=self.function.function.arn,
            batch_size=delivery.batch_size,
            maximum_batching_window_in_seconds=delivery.batching_window_s,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": delivery.maximum_concurrency},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function.role_policy]),
        )
        self.register_outputs({
            "queueUrl": self.queue.url,
            "deadLetterQueueUrl": self.dead_letter_queue.url,
            "functionName": self.function.function.name,
        })
