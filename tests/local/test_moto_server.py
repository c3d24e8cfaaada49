"""What local/moto_server.py adds to moto's server, checked against it: DynamoDB
requests are atomic, so a cancelled transaction undoes nothing but itself, and
a table's stream holds one record per item a committed request changed."""

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
TABLE = "atomic"
STREAMED = "streamed"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def dynamodb():
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        client.create_table(TableName=STREAMED, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        yield client
    finally:
        server.terminate()
        server.wait(10)


def test_writes_beside_cancelled_transactions_are_all_kept(dynamodb):
    # A table big enough that moto's copy of it takes a while, as the soak's does.
    for n in range(300):
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"filler-{n}"}, "pad": {"S": "x" * 200}})
    stop = threading.Event()

    def cancel_transactions():
        refused = {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "missing"}},
                                      "ConditionExpression": "attribute_exists(pk)"}}
        touched = {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "touched"}}}}
        while not stop.is_set():
            with pytest.raises(ClientError, match="TransactionCanceled"):
                dynamodb.transact_write_items(TransactItems=[touched, refused])

    cancellers = [threading.Thread(target=cancel_transactions) for _ in range(2)]
    for thread in cancellers:
        thread.start()
    try:
        written = [f"written-{n}" for n in range(150)]
        for pk in written:
            dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": pk}})
    finally:
        stop.set()
        for thread in cancellers:
            thread.join()
    kept = [pk for pk in written
            if "Item" in dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)]
    assert kept == written
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "touched"}})


def stream_records(dynamodb) -> list[dict]:
    endpoint = dynamodb.meta.endpoint_url
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1")
    arn = dynamodb.describe_table(TableName=STREAMED)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]


def test_a_stream_holds_one_record_per_real_change_and_none_for_what_changed_nothing(dynamodb):
    key = {"pk": {"S": "item"}}
    # An UpdateItem that creates its item: one INSERT (moto alone writes two).
    dynamodb.update_item(TableName=STREAMED, Key=key, UpdateExpression="SET n = :one",
                         ExpressionAttributeValues={":one": {"N": "1"}})
    # The same value again: DynamoDB writes no record for a write that changes nothing.
    dynamodb.update_item(TableName=STREAMED, Key=key, UpdateExpression="SET n = :one",
                         ExpressionAttributeValues={":one": {"N": "1"}})
    # A refused condition and a cancelled transaction commit nothing.
    with pytest.raises(ClientError):
        dynamodb.update_item(TableName=STREAMED, Key=key, UpdateExpression="SET n = :two",
                             ConditionExpression="n = :two", ExpressionAttributeValues={":two": {"N": "2"}})
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": STREAMED, "Key": key, "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"ConditionCheck": {"TableName": STREAMED, "Key": {"pk": {"S": "missing"}},
                                "ConditionExpression": "attribute_exists(pk)"}}])
    dynamodb.update_item(TableName=STREAMED, Key=key, UpdateExpression="SET n = :two",
                         ExpressionAttributeValues={":two": {"N": "2"}})
    dynamodb.delete_item(TableName=STREAMED, Key=key)
    records = stream_records(dynamodb)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert "OldImage" not in records[0]["dynamodb"] and records[0]["dynamodb"]["NewImage"]["n"] == {"N": "1"}
    assert (records[1]["dynamodb"]["OldImage"]["n"], records[1]["dynamodb"]["NewImage"]["n"]) == \
        ({"N": "1"}, {"N": "2"})
    assert "NewImage" not in records[2]["dynamodb"]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(numbers)


def test_list_metrics_names_a_metric_with_several_dimensions_once(dynamodb):
    """ops webhooks sums each listed metric's points: a metric listed once per
    put (moto's own behaviour) counted three deliveries as nine."""
    cloudwatch = boto3.client("cloudwatch", endpoint_url=dynamodb.meta.endpoint_url, region_name="us-east-1")
    dimensions = [{"Name": "service", "Value": "webhooks"}, {"Name": "endpoint", "Value": "inbox"}]
    for _ in range(3):
        cloudwatch.put_metric_data(Namespace="Listed", MetricData=[
            {"MetricName": "Delivered", "Dimensions": dimensions, "Value": 1, "Unit": "Count"}])
    cloudwatch.put_metric_data(Namespace="Listed", MetricData=[
        {"MetricName": "Delivered", "Dimensions": dimensions[:1], "Value": 1, "Unit": "Count"}])
    listed = cloudwatch.list_metrics(Namespace="Listed", MetricName="Delivered")["Metrics"]
    assert sorted(len(m["Dimensions"]) for m in listed) == [1, 2]
