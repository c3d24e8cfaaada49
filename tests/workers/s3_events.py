"""Real-shaped events: S3 notifications as S3 sends them, inside SQS records as
Lambda delivers them."""

from __future__ import annotations

import hashlib
import json
import uuid
from urllib.parse import quote_plus

from contract.names import Names
from contract.scan import EVENT_DETAIL_TYPE, EVENT_SOURCE, RESOURCE_TYPE, SCAN_STATUS
from local.runtime import ACCOUNT_ID

BUCKET = Names("test").upload_bucket(ACCOUNT_ID)


def s3_event(key: str, event_name: str = "ObjectCreated:Put", *, sequencer: str | None = "0055AED6DCD90281E5",
              version_id: str | None = None, size: int = 5, event_time: str = "2026-11-21T10:00:00.000Z") -> dict:
    obj = {"key": quote_plus(key, safe="/"), "size": size, "eTag": "5d41402abc4b2a76b9719d911017c592"}
    if sequencer is not None:
        obj["sequencer"] = sequencer
    if version_id is not None:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ingest",
            "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                       "arn": f"arn:aws:s3:::{BUCKET}"},
            "object": obj,
        },
    }


def notification(*records: dict) -> str:
    return json.dumps({"Records": list(records)})


def s3_test_event_body() -> str:
    return json.dumps({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-21T10:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    })


def sqs_record(body: str, receive_count: int = 1) -> dict:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795300000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1795300000001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads-test-ingest",
        "awsRegion": "us-east-1",
    }


def sqs_event(*bodies: str) -> dict:
    return {"Records": [sqs_record(body) for body in bodies]}


def scan_result(key: str, version_id: str | None, result: str = "NO_THREATS_FOUND", *,
                threats: list[str] | None = None, event_time: str = "2026-11-21T10:00:05Z",
                event_id: str | None = None) -> str:
    """GuardDuty's scan result event as an EventBridge rule puts it on SQS: the
    whole event is the body ("Monitoring S3 object scans with Amazon
    EventBridge", GuardDuty user guide)."""
    return json.dumps({
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": EVENT_DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": ACCOUNT_ID,
        "time": event_time,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": SCAN_STATUS[result],
            "resourceType": RESOURCE_TYPE,
            "s3ObjectDetails": {"bucketName": BUCKET, "objectKey": key, "eTag": "5d41402abc4b2a76b9719d911017c592",
                                "versionId": version_id, "s3Throttled": False},
            "scanResultDetails": {"scanResultStatus": result,
                                  "threats": [{"name": name} for name in threats] if threats else None},
        },
    })


def scheduled_event(at: str, rule: str = "uploads-test-scan-sweep") -> str:
    """EventBridge's "Scheduled Event" as a schedule rule puts it on SQS (the
    sample in the EventBridge user guide, "Creating a rule that runs on a schedule")."""
    return json.dumps({
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at,
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    })
