"""moto's server, with S3 event notifications as S3 writes them and DynamoDB
requests applied one at a time.

moto's notifications leave out `versionId` and `sequencer`. S3 puts both in
every ObjectCreated and ObjectRemoved record of a versioned bucket
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html):
the version the event is about, and a hexadecimal value that orders the
events of one key. The worker relies on both (ordering, spent tickets), so
the local stack adds them before moto sends the message.

DynamoDB applies every request atomically, and a cancelled transaction
changes nothing. moto cancels a transaction by restoring a copy of each table
it touched, taken when the transaction began; in a threaded server that also
undoes every write other requests made in the meantime (a worker's `processed`
record, seen reverting to `pending` in the soak). One DynamoDB request at a
time makes each atomic again, as DynamoDB's are.

DynamoDB Streams carry one record per item a request changed, after the
request commits, in order, and none for a write that changed nothing ("If
you perform a PutItem or UpdateItem operation that does not change any data
in an item, DynamoDB Streams does not write a stream record for that
operation":
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html).
moto writes a record as each item is touched: two for an UpdateItem that
creates its item, one for a write that changed nothing, and records of a
cancelled transaction's writes until it restores its copy. Here a request's
touches are gathered, and once it is over each item it really changed gets
one record, from its image before the request to its image after.

EventBridge delivers a rule's target the whole event, `account` included
("Amazon EventBridge event structure",
https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html);
moto's default input template leaves `account` out, so it is put back.

ListMetrics names each metric (namespace, name and dimension set) once, as
CloudWatch's API reference says it lists "the specified metrics"; moto's
test of "the same dimensions" fails for any metric with two or more, so it
listed such a metric once per data point put.

CloudWatch alarms start in INSUFFICIENT_DATA, as CloudWatch's do (moto's start
OK), and every state change is kept for DescribeAlarmHistory, which moto
lacks: the local CloudWatch (local/cloudwatch/) sets the states. SQS hands
that CloudWatch, and no AWS client, its oldest message's SentTimestamp
(`LocalOldestMessageSentTimestamp`), from which it publishes
ApproximateAgeOfOldestMessage as SQS does.

An EventBridge target's input transformer may name the whole event,
`<aws.events.event.json>`; AWS puts it there as a rule's target receives it
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html:
`time` as ISO 8601), where moto puts its own record of it (`time` in epoch
seconds, and its `ingestion-time`). The webhook delivery queue's messages
carry it (contract/webhooks.py).

Run as `python -m local.moto_server` with moto.server's arguments.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid

from moto.cloudwatch import models as cloudwatch_models
from moto.cloudwatch.models import Alarm
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.dynamodb.models.table import StreamRecord, StreamShard
from moto.dynamodb.responses import DynamoHandler
from moto.events.utils import EventTemplateParser
from moto.s3 import notifications
from moto.server import main
from moto.sqs.models import SQSBackend

from local import guardduty

_moto_event = notifications._get_s3_event
_lock = threading.Lock()
_last = 0


def _sequencer() -> str:
    """Increasing within the process, which holds every key: S3 only promises
    an order among one key's events, and this is stricter."""
    global _last
    with _lock:
        _last = max(_last + 1, time.time_ns())
        return f"{_last:018X}"


def _s3_event(event_name, bucket, key, notification_id):
    event = _moto_event(event_name, bucket, key, notification_id)
    for record in event["Records"]:
        described = record["s3"]["object"]
        version_id = getattr(key, "version_id", None)
        if version_id and version_id != "null":
            described["versionId"] = version_id
        described["sequencer"] = _sequencer()
    return event


notifications._get_s3_event = _s3_event
_moto_send_event = notifications.send_event


def _send_event(account_id, event_name, bucket, key):
    """S3's events, and GuardDuty's view of each new object (local/guardduty.py)."""
    _moto_send_event(account_id, event_name, bucket, key)
    if getattr(event_name, "value", event_name).startswith("s3:ObjectCreated"):
        version_id = getattr(key, "version_id", None)
        guardduty.notify_created(bucket.name, key.name, None if version_id in (None, "null") else version_id)


notifications.send_event = _send_event

_dynamodb_call = DynamoHandler.call_action
_dynamodb_lock = threading.Lock()


# The items one request touched: (table, hash key, range key) -> the item before it.
_touched = threading.local()


def _touch(shard: StreamShard, old, new) -> None:
    item = old if old is not None else new
    key = (shard.table.name, item.hash_key, item.range_key)
    before = _touched.items
    if key not in before:
        before[key] = copy.deepcopy(old)


def _record_changes(backend) -> None:
    for (table_name, hash_key, range_key), old in _touched.items.items():
        table = backend.tables.get(table_name)
        if table is None or table.stream_shard is None:
            continue
        new = table.get_item(hash_key, range_key)
        if (old and old.to_json()) == (new and new.to_json()):
            continue
        shard = table.stream_shard
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        shard.items.append(StreamRecord(table, table.stream_specification["StreamViewType"], event, old,
                                        copy.deepcopy(new), shard.starting_sequence_number + len(shard.items)))


def _shared(shard: StreamShard, memo: dict) -> StreamShard:
    """moto copies a whole table before each transaction, to restore it if the
    transaction is cancelled; the stream only grows between requests (above),
    so the copy shares it rather than copy every record the stream holds."""
    return shard


def _one_at_a_time(handler: DynamoHandler):
    with _dynamodb_lock:
        _touched.items = {}
        try:
            return _dynamodb_call(handler)
        finally:
            _record_changes(handler.dynamodb_backend)
            _touched.items = {}


DynamoHandler.call_action = _one_at_a_time
EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE.replace(
    '"version": "0",', '"version": "0", "account": "<account>",')
StreamShard.add = _touch
StreamShard.__deepcopy__ = _shared

_alarm_init = Alarm.__init__
_alarm_update = Alarm.update_state


def _alarm_created(alarm: Alarm, *args, **kwargs) -> None:
    _alarm_init(alarm, *args, **kwargs)
    alarm.state_value = "INSUFFICIENT_DATA"
    alarm.transitions = []


def _alarm_changed(alarm: Alarm, reason: str, reason_data: str, state_value: str) -> None:
    old = alarm.state_value
    _alarm_update(alarm, reason, reason_data, state_value)
    alarm.transitions.append({
        "AlarmName": alarm.name, "AlarmType": "MetricAlarm", "Timestamp": alarm.state_updated_timestamp,
        "HistoryItemType": "StateUpdate", "HistorySummary": f"Alarm updated from {old} to {state_value}",
        "HistoryData": json.dumps({"version": "1.0", "oldState": {"stateValue": old},
                                   "newState": {"stateValue": state_value, "stateReason": reason,
                                                "stateReasonData": json.loads(reason_data or "{}")}}),
        "AlarmContributorId": str(uuid.uuid4()),
    })


def _describe_alarm_history(response: CloudWatchResponse) -> ActionResult:
    name = response._get_param("AlarmName")
    kind = response._get_param("HistoryItemType")
    start, end = response._get_param("StartDate"), response._get_param("EndDate")
    items = [item for alarm in response.cloudwatch_backend.alarms.values() if name in (None, alarm.name)
             for item in alarm.transitions if kind in (None, item["HistoryItemType"])
             and (start is None or item["Timestamp"] >= start) and (end is None or item["Timestamp"] <= end)]
    items.sort(key=lambda item: item["Timestamp"], reverse=response._get_param("ScanBy") != "TimestampAscending")
    return ActionResult({"AlarmHistoryItems": items[: int(response._get_param("MaxRecords") or 100)]})


Alarm.__init__ = _alarm_created
Alarm.update_state = _alarm_changed
CloudWatchResponse.describe_alarm_history = _describe_alarm_history

OLDEST_SENT = "LocalOldestMessageSentTimestamp"
_queue_attributes = SQSBackend.get_queue_attributes


def _with_oldest_sent(backend: SQSBackend, queue_name: str, attribute_names: list[str]) -> dict:
    asked = OLDEST_SENT in attribute_names
    attributes = _queue_attributes(backend, queue_name, [n for n in attribute_names if n != OLDEST_SENT])
    if asked:
        sent = [m.sent_timestamp for m in backend.get_queue(queue_name)._messages if m.sent_timestamp]
        if sent:
            attributes[OLDEST_SENT] = str(min(sent))
    return attributes


SQSBackend.get_queue_attributes = _with_oldest_sent

_WHOLE_EVENT = "<aws.events.event.json>"
_template_parse = EventTemplateParser.parse


def _as_delivered(event: dict) -> dict:
    delivered = {name: value for name, value in event.items() if name != "ingestion-time"}
    if isinstance(delivered.get("time"), (int, float)):
        delivered["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(delivered["time"]))
    return delivered


def _parse_template(input_template, input_paths_map, event):
    if input_template and _WHOLE_EVENT in input_template:
        input_template = input_template.replace(_WHOLE_EVENT, json.dumps(_as_delivered(event)))
    return _template_parse(input_template, input_paths_map, event)


EventTemplateParser.parse = staticmethod(_parse_template)


def _same_dimensions(listed: list, dimensions: list) -> bool:
    return {(d.name, d.value) for d in listed} == {(d.name, d.value) for d in dimensions}


cloudwatch_models.are_dimensions_same = _same_dimensions

if __name__ == "__main__":
    main()
