"""The ingest path, owned whole: S3 notifies a queue, the queue feeds the
worker, and what keeps failing lands in a dead-letter queue as evidence.

Every timing comes from `IngestSettings`; the visibility timeout is
its derived property, never a number typed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.lambda_function import PythonFunction, PythonFunctionArgs
from components.packaging import LambdaPackage
from contract import permissions
from contract.functions import ingest_worker
from contract.ingest import IngestSettings
from contract.keys import INCOMING_PREFIX, NOTIFIED_EVENTS
from contract.names import Names
from contract.scan import SWEEP_SCHEDULE, result_event_pattern


@dataclass
class IngestPipelineArgs:
    names: Names
    ingest: IngestSettings
    bucket: aws.s3.Bucket
    table: aws.dynamodb.Table
    account_id: pulumi.Input[str]
    package: LambdaPackage
    # Values for the worker's environment variables.
    variables: Mapping[str, pulumi.Input[str]]
    kms_key_arn: str | None
    log_retention_days: int
    # `uploads:malwareScan`: GuardDuty's scan results for the bucket come to the same queue.
    malware_scan: bool = False


class IngestPipeline(pulumi.ComponentResource):
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    worker: PythonFunction

    def __init__(self, name: str, args: IngestPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:ingest:IngestPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ingest = args.ingest

        # SQS-managed encryption, not KMS: S3 cannot publish to a queue
        # encrypted with the AWS-managed aws/sqs key.
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            name=args.names.dead_letter_queue,
            message_retention_seconds=ingest.dlq_retention_s,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            name=args.names.queue,
            visibility_timeout_seconds=ingest.visibility_timeout_s,
            message_retention_seconds=ingest.message_retention_s,
            receive_wait_time_seconds=ingest.receive_wait_s,
            sqs_managed_sse_enabled=True,
            redrive_policy=pulumi.Output.json_dumps({
                "deadLetterTargetArn": self.dead_letter_queue.arn,
                "maxReceiveCount": ingest.max_receive_count,
            }),
            opts=child,
        )
        # Only this queue may dead-letter into the DLQ.
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps({
                "redrivePermission": "byQueue",
                "sourceQueueArns": [self.queue.arn],
            }),
            opts=child,
        )
        # Scan results share the queue, its DLQ and its worker: a result and its
        # file's S3 events are then ordered by one worker, in one chain per file
        # (docs/security.md, "Where scan results go").
        scan_rule = aws.cloudwatch.EventRule(
            f"{name}-scan-results",
            name=args.names.scan_result_rule,
            description="GuardDuty's malware scan results for the upload bucket, to the ingest queue",
            event_pattern=pulumi.Output.json_dumps(result_event_pattern(args.bucket.bucket)),
            opts=child,
        ) if args.malware_scan else None
        # A result that never comes sends nothing: this schedule has the worker
        # count the files still waiting past the bound (docs/runbooks.md#scans-stuck).
        sweep_rule = aws.cloudwatch.EventRule(
            f"{name}-scan-sweep",
            name=args.names.scan_sweep_rule,
            description="Has the ingest worker count files waiting for their malware scan past the bound",
            schedule_expression=SWEEP_SCHEDULE,
            opts=child,
        ) if args.malware_scan else None
        scan_results = [{
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": self.queue.arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule.arn}},
        } for sid, rule in (("AllowScanResults", scan_rule), ("AllowScanSweeps", sweep_rule)) if rule]
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17",
                "Statement": [*scan_results, {
                    "Sid": "AllowUploadBucketNotifications",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": self.queue.arn,
                    # Both conditions: a bucket ARN carries no account, so the
                    # source account stops a same-named bucket elsewhere.
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": args.bucket.arn},
                        "StringEquals": {"aws:SourceAccount": args.account_id},
                    },
                }],
            }),
            opts=child,
        )
        for target, rule in (("scan-results", scan_rule), ("scan-sweep", sweep_rule)):
            if rule:
                aws.cloudwatch.EventTarget(f"{name}-{target}-target", rule=rule.name, arn=self.queue.arn,
                                           opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]))
        aws.s3.BucketNotification(
            f"{name}-notification",
            bucket=args.bucket.id,
            queues=[{
                "queue_arn": self.queue.arn,
                "events": list(NOTIFIED_EVENTS),
                "filter_prefix": INCOMING_PREFIX,
            }],
            # The plan turns the bucket's EventBridge notifications on to hear of new
            # objects; this resource owns the whole configuration and must not turn them off.
            eventbridge=args.malware_scan,
            # S3 sends a test event on save and rejects the configuration
            # unless the queue policy already lets it publish.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
        )

        self.worker = PythonFunction(
            f"{name}-worker",
            PythonFunctionArgs(
                names=args.names,
                spec=ingest_worker(ingest),
                package=args.package,
                log_retention_days=args.log_retention_days,
                variables=args.variables,
                resources={
                    permissions.BUCKET: args.bucket.arn,
                    permissions.TABLE: args.table.arn,
                    permissions.QUEUE: self.queue.arn,
                    **permissions.kms_values(args.kms_key_arn),
                },
            ),
            opts=child,
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-event-source",
            event_source_arn=self.queue.arn,
            function_name=self.worker.function.arn,
            batch_size=ingest.batch_size,
            maximum_batching_window_in_seconds=ingest.batching_window_s,
            function_response_types=["ReportBatchItemFailures"],
            # Within the reserved concurrency, if any, so the poller never invokes
            # into throttles (which would burn receives towards the DLQ).
            scaling_config={"maximum_concurrency": ingest.maximum_concurrency},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.worker.role_policy]),
        )
        self.register_outputs({
            "queueUrl": self.queue.url,
            "deadLetterQueueUrl": self.dead_letter_queue.url,
            "workerName": self.worker.function.name,
        })
