"""The lifecycle events component under Pulumi's mocks: the table's stream,
the producer and its least privilege, its mapping, DLQ, the bus, its log rule
and the schema registry (docs/events.md)."""

from __future__ import annotations

import json

import jsonschema

from contract import events
from contract.events import STREAM, STREAM_VIEW_TYPE
from contract.functions import ENV_EVENT_BUS, ENV_STACK, EVENTS
from contract.metrics import NAMESPACE
from contract.names import Names
from tests.infra.harness import of_type, one
from tests.infra.test_program import ACCOUNT, function, grants, is_ephemeral, pairs

REGION = "eu-west-1"


def test_the_table_streams_both_images_of_every_write(stack):
    table = one(stack, "aws:dynamodb/table:Table", name=Names(stack["name"]).table)["inputs"]
    assert table["streamEnabled"] is True and table["streamViewType"] == STREAM_VIEW_TYPE == "NEW_AND_OLD_IMAGES"


def test_the_bus_is_the_stacks_own_and_exported(stack):
    names = Names(stack["name"])
    one(stack, "aws:cloudwatch/eventBus:EventBus", name=names.event_bus)
    assert stack["outputs"]["eventBusName"] == names.event_bus
    assert stack["outputs"]["eventBusArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{names.event_bus}"
    assert stack["outputs"]["eventLogGroup"] == names.event_log_group


def test_the_stream_feeds_the_producer_in_bisected_bounded_retried_batches_kept_when_given_up(stack):
    names = Names(stack["name"])
    mapping = one(stack, "aws:lambda/eventSourceMapping:EventSourceMapping",
                  functionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{names.events_function}")["inputs"]
    assert mapping["eventSourceArn"].startswith(
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{names.table}/stream/")
    assert mapping["startingPosition"] == "TRIM_HORIZON"
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["bisectBatchOnFunctionError"] is True
    assert (mapping["batchSize"], mapping["maximumBatchingWindowInSeconds"], mapping["maximumRetryAttempts"],
            mapping["maximumRecordAgeInSeconds"]) == (STREAM.batch_size, STREAM.batching_window_s,
                                                      STREAM.maximum_retry_attempts, STREAM.maximum_record_age_s)
    # Under the stream's 24-hour retention, so a record is given up on, and kept, before it expires.
    assert mapping["maximumRecordAgeInSeconds"] < 24 * 3600
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{names.events_dead_letter_queue}"
    assert mapping["destinationConfig"] == {"onFailure": {"destinationArn": dlq}}
    queue = one(stack, "aws:sqs/queue:Queue", name=names.events_dead_letter_queue)["inputs"]
    assert queue["sqsManagedSseEnabled"] and queue["messageRetentionSeconds"] == STREAM.dlq_retention_s


def test_the_producer_is_hardened_and_told_only_the_bus_and_stack(stack, package):
    names = Names(stack["name"])
    inputs = function(stack, names.events_function)["inputs"]
    assert inputs["architectures"] == ["arm64"] and inputs["handler"] == EVENTS.handler
    assert inputs["tracingConfig"] == {"mode": "Active"} and inputs["timeout"] == EVENTS.timeout_s
    assert inputs["environment"]["variables"] == {
        ENV_EVENT_BUS: names.event_bus, ENV_STACK: stack["name"], "POWERTOOLS_SERVICE_NAME": EVENTS.service,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE, "LOG_LEVEL": "INFO"}


def test_the_producer_reads_only_its_tables_stream_puts_only_on_its_bus_and_dead_letters_only_to_its_dlq(stack):
    names = Names(stack["name"])
    assert grants(stack, names.events_function) == pairs({
        ("logs:CreateLogStream", "logs:PutLogEvents"):
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{names.events_function}:*"],
        ("xray:PutTraceSegments", "xray:PutTelemetryRecords"): ["*"],
        ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"):
            [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{names.table}/stream/*"],
        ("events:PutEvents",): [f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{names.event_bus}"],
        ("sqs:SendMessage",): [f"arn:aws:sqs:{REGION}:{ACCOUNT}:{names.events_dead_letter_queue}"],
    })


def test_every_event_on_the_bus_goes_to_a_log_group_only_its_rule_may_write(stack):
    names = Names(stack["name"])
    rule = one(stack, "aws:cloudwatch/eventRule:EventRule", name=names.event_log_rule)["inputs"]
    assert rule["eventBusName"] == names.event_bus
    assert json.loads(rule["eventPattern"]) == {"source": [events.EVENT_SOURCE]}
    group = one(stack, "aws:cloudwatch/logGroup:LogGroup", name=names.event_log_group)["inputs"]
    assert group["retentionInDays"] == (3 if is_ephemeral(stack) else 30)
    target = one(stack, "aws:cloudwatch/eventTarget:EventTarget", rule=names.event_log_rule)["inputs"]
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{names.event_log_group}"
    assert (target["eventBusName"], target["arn"]) == (names.event_bus, group_arn)
    (policy,) = of_type(stack, "aws:cloudwatch/logResourcePolicy:LogResourcePolicy")
    (statement,) = json.loads(policy["inputs"]["policyDocument"])["Statement"]
    assert statement["Resource"] == f"{group_arn}:*"
    assert statement["Condition"] == {"ArnEquals": {
        "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{names.event_bus}/{names.event_log_rule}"}}


def test_each_detail_types_schema_is_registered_as_the_committed_one_in_draft_4(stack):
    names = Names(stack["name"])
    one(stack, "aws:schemas/registry:Registry", name=f"{names.prefix}-events")
    registered = {s["inputs"]["name"]: s["inputs"] for s in of_type(stack, "aws:schemas/schema:Schema")}
    assert set(registered) == {events.schema_name(detail_type) for detail_type in events.DETAIL_TYPES}
    for detail_type in events.DETAIL_TYPES:
        schema = registered[events.schema_name(detail_type)]
        assert schema["type"] == "JSONSchemaDraft4" and schema["registryName"] == f"{names.prefix}-events"
        content = json.loads(schema["content"])
        jsonschema.Draft4Validator.check_schema(content)
        committed = events.schema(detail_type)
        assert {k: v for k, v in content.items() if k not in ("$schema", "id")} == \
            {k: v for k, v in committed.items() if k not in ("$schema", "$id")}
