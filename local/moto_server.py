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

Run as `python -m local.moto_server` with moto.server's arguments.
"""

from __future__ import annotations

import threading
import time

from moto.dynamodb.responses import DynamoHandler
from moto.s3 import notifications
from moto.server import main

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


def _one_at_a_time(handler: DynamoHandler):
    with _dynamodb_lock:
        return _dynamodb_call(handler)


DynamoHandler.call_action = _one_at_a_time

if __name__ == "__main__":
    main()
