"""Each injected fault reaches the caller as the botocore error the worker would
see from the real service; rate 0 injects nothing; a seed replays a run."""

import json
import os
import random

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from contract.ingest import IngestSettings
from local import faults
from local.esm import EventSourceMapping
from local.faults import Deliveries, Faults
from local.runtime import Invocation

# One attempt: the error is the one the worker sees once its retries run out.
ONCE = Config(retries={"mode": "standard", "max_attempts": 1})
TABLE = "files"


def provisioned() -> boto3.Session:
    """A bucket and a table, made through a session of their own (no faults)."""
    setup = boto3.Session(region_name="us-east-1")
    setup.client("s3").create_bucket(Bucket="faulty-bucket")
    setup.client("dynamodb").create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    return setup


@pytest.fixture
def aws():
    """A fresh default session and moto behind it; the hooks die with the session."""
    with mock_aws():
        boto3.setup_default_session(region_name="us-east-1")
        setup = provisioned()
        yield setup
        boto3.DEFAULT_SESSION = None


def s3_call():
    boto3.client("s3", config=ONCE).put_object(Bucket="faulty-bucket", Key="k", Body=b"x")


def dynamodb_call():
    boto3.client("dynamodb", config=ONCE).get_item(TableName=TABLE, Key={"pk": {"S": "a"}})


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


def test_s3_throttling_is_a_503_slowdown(aws):
    faults.install(Faults(s3_throttle=1.0))
    assert error_of(s3_call) == (503, "SlowDown")


def test_dynamodb_throttling_is_a_400_throughput_or_throttling_exception(aws):
    faults.install(Faults(dynamodb_throttle=1.0))
    status, code = error_of(dynamodb_call)
    assert status == 400 and code in {"ProvisionedThroughputExceededException", "ThrottlingException"}


@pytest.mark.parametrize(("call", "code"), [(s3_call, "InternalError"), (dynamodb_call, "InternalServerError")])
def test_server_errors_are_500s_in_each_services_shape(aws, call, code):
    faults.install(Faults(server_error=1.0))
    assert error_of(call) == (500, code)


@pytest.fixture
def server(monkeypatch):
    """A moto server over HTTP, with a fresh default session pointed at it: a
    read timeout sends the request for real, which an in-process mock never sees."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    boto3.setup_default_session(region_name="us-east-1")
    setup = provisioned()
    yield setup
    boto3.DEFAULT_SESSION = None
    # moto's state is per process: the next test starts from nothing.
    requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10)
    moto.stop()


@pytest.mark.parametrize("call", [s3_call, dynamodb_call])
def test_read_timeouts_raise_botocores_read_timeout_error(server, call):
    faults.install(Faults(read_timeout=1.0))
    with pytest.raises(ReadTimeoutError):
        call()


def test_a_read_timeout_loses_the_answer_not_the_write(server):
    faults.install(Faults(read_timeout=1.0))
    with pytest.raises(ReadTimeoutError):
        boto3.client("dynamodb", config=ONCE).put_item(TableName=TABLE, Item={"pk": {"S": "sent"}})
    assert "Item" in server.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": "sent"}})


def test_a_crashing_invocation_ends_the_process_after_one_of_its_first_writes(aws, monkeypatch):
    class Died(BaseException):
        pass

    def exit_(code):
        raise Died(code)

    monkeypatch.setattr(os, "_exit", exit_)
    injector = faults.install(Faults(crash=1.0), random.Random(0))
    written = []
    injector.begin_invocation()
    with pytest.raises(Died) as died:
        for n in range(5):
            boto3.resource("dynamodb").Table(TABLE).update_item(
                Key={"pk": f"w{n}"}, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": 1})
            written.append(n)
    assert died.value.args == (1,)
    crashed_on = len(written)
    assert crashed_on < 3
    # The write that preceded the crash had landed.
    item = aws.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": f"w{crashed_on}"}})["Item"]
    assert item["v"] == {"N": "1"}


def test_an_invocation_that_does_not_crash_writes_freely(aws):
    injector = faults.install(Faults(crash=0.0))
    injector.begin_invocation()
    table = boto3.resource("dynamodb").Table(TABLE)
    for n in range(5):
        table.update_item(Key={"pk": f"w{n}"}, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": 1})
    assert all(table.get_item(Key={"pk": f"w{n}"})["Item"]["v"] == 1 for n in range(5))
    assert injector.injected == {}


def test_clients_made_before_install_are_not_faulty(aws):
    before = boto3.client("s3", config=ONCE)
    faults.install(Faults(s3_throttle=1.0))
    before.put_object(Bucket="faulty-bucket", Key="k", Body=b"x")
    assert error_of(s3_call)[1] == "SlowDown"


def test_zero_rates_inject_nothing(aws):
    injector = faults.install(Faults(seed=7))
    for _ in range(20):
        s3_call()
        dynamodb_call()
    assert injector.injected == {}


def test_a_seed_replays_the_same_faults():
    def run(seed: int) -> list[str]:
        injector = faults.Injector(Faults(s3_throttle=0.3, server_error=0.3, seed=seed), random.Random(seed))
        answers = []
        for _ in range(50):
            response = injector.before_send(request=type("R", (), {"url": "http://s3"})(),
                                            event_name="before-send.s3.GetObject")
            answers.append(response.status_code if response else 200)
        return answers

    assert run(3) == run(3)
    assert run(3) != run(4)
    assert {200, 500, 503} == set(run(3))


def test_the_configuration_travels_in_one_environment_variable():
    config = Faults(s3_throttle=0.1, crash=0.05, duplicate_delivery=0.1, shuffle=1.0, seed=9)
    assert Faults.from_env(config.to_env()) == config
    assert json.loads(config.to_env()[faults.ENV_VAR])["crash"] == 0.05
    assert Faults.from_env({}) is None
    with pytest.raises(ValueError):
        Faults(crash=1.5)


def test_deliveries_shuffle_batches_and_repeat_messages_with_a_seed():
    batch = [{"MessageId": str(i)} for i in range(10)]
    shuffled = Deliveries(Faults(shuffle=1.0, seed=1)).order(batch)
    assert shuffled != batch and sorted(shuffled, key=lambda m: int(m["MessageId"])) == batch
    assert Deliveries(Faults(shuffle=1.0, seed=1)).order(batch) == shuffled
    assert Deliveries(Faults(duplicate_delivery=1.0)).repeats(batch) == batch
    assert Deliveries(None).order(batch) == batch and Deliveries(None).repeats(batch) == []


class Answering:
    def __init__(self):
        self.bodies = []

    def invoke(self, event):
        self.bodies.append([r["body"] for r in event["Records"]])
        return Invocation("r", response=None)

    def stop(self):
        pass


def test_the_mapping_delivers_a_processed_message_again():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="once")
        env = Answering()
        settings = IngestSettings(batching_window_s=0, receive_wait_s=0)
        esm = EventSourceMapping(sqs, url, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1", settings, [env, env],
                                 faults=Faults(duplicate_delivery=1.0))
        esm.deliver(env, esm.gather())
        assert esm.stats.redelivered == 1
        again = sqs.receive_message(QueueUrl=url)["Messages"]
        assert [m["Body"] for m in again] == ["once"]
