"""IAM where the functions run: every call to the local stack's AWS is made by
a principal with credentials of its own, held to that principal's policy
(contract/permissions.py), and refused in the service's own error shape
before moto sees it.

The refusals here are provoked on purpose, so they are made by probes
(`stack.iam.probe("api")`: the role's policy, credentials of its own, recorded
as `api-probe`): the least-privilege test holds the roles themselves to
"nothing refused"."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from contract.keys import INCOMING_PREFIX, THUMBNAIL_PREFIX
from contract.table import PARTITION_KEY, SORT_KEY
from local.iam.authority import API, DEPLOYER, INGEST, OPERATOR, Check
from local.iam.evaluate import EXPLICIT_DENY
from local.iam.record import ENV_VAR, read
from local.stack import LocalStack
from tests.local.stack_helpers import FAST, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("iam"), ingest=FAST) as running:
        for role in (API, INGEST, OPERATOR):
            running.iam.probe(role)
        yield running


def refused(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as error:
        call()
    response = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def a_key(prefix: str = INCOMING_PREFIX) -> str:
    return f"{prefix}iam-test/{uuid.uuid4().hex}/a.txt"


def test_each_function_runs_with_its_roles_credentials_and_the_ops_cli_with_the_operators(stack):
    assert {stack.api_spec().environment[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")} == \
           set(stack.credentials(API).values())
    assert {stack.worker_spec().environment[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")} == \
           set(stack.credentials(INGEST).values())
    assert json.loads(stack.stack_file.read_text())["emulatorCredentials"] == stack.credentials(OPERATOR)
    keys = {stack.credentials(name)["AWS_ACCESS_KEY_ID"] for name in (API, INGEST, OPERATOR, DEPLOYER)}
    assert len(keys) == 4


def test_a_call_its_policy_does_not_grant_is_refused_in_the_services_own_shape_before_moto(stack):
    table, key = stack.outputs["tableName"], {PARTITION_KEY: {"S": "USER#iam"}, SORT_KEY: {"S": "FILE#put"}}
    code, status, message = refused(lambda: stack.client("dynamodb", "operator-probe").put_item(
        TableName=table, Item=key))
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (f"User: {stack.iam.named('operator-probe').caller.arn} is not authorized to perform: "
                       f"dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{table} "
                       "because no identity-based policy allows the dynamodb:PutItem action")
    assert "Item" not in stack.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)

    assert refused(lambda: stack.client("sqs", "api-probe").send_message(
        QueueUrl=stack.outputs["queueUrl"], MessageBody="x"))[:2] == ("AccessDenied", 400)
    assert refused(lambda: stack.client("ssm", "ingest-probe").get_parameter(
        Name=stack.names.cursor_secret_parameter, WithDecryption=True))[:2] == ("AccessDeniedException", 400)
    assert refused(lambda: stack.client("cognito-idp", "api-probe").list_users(
        UserPoolId=stack.outputs["userPoolId"]))[:2] == ("AccessDeniedException", 400)
    assert refused(lambda: stack.client("cloudwatch", "operator-probe").set_alarm_state(
        AlarmName="uploads-local-dlq-messages", StateValue="ALARM", StateReason="x"))[:2] == ("AccessDenied", 403)

    thumbnail = a_key(THUMBNAIL_PREFIX)
    code, status, message = refused(lambda: stack.client("s3", "operator-probe").put_object(
        Bucket=stack.bucket, Key=thumbnail, Body=b"x"))
    assert (code, status) == ("AccessDenied", 403) and "s3:PutObject" in message
    assert refused(lambda: stack.client("s3").head_object(Bucket=stack.bucket, Key=thumbnail))[0] == "404"


def test_a_transaction_is_authorized_item_by_item_on_each_items_table(stack):
    table = stack.outputs["tableName"]
    update = {"Update": {"TableName": table, "Key": {PARTITION_KEY: {"S": "USER#iam"}, SORT_KEY: {"S": "USAGE"}},
                         "UpdateExpression": "ADD #b :one", "ExpressionAttributeNames": {"#b": "bytes"},
                         "ExpressionAttributeValues": {":one": {"N": "1"}}}}
    put = {"Put": {"TableName": table, "Item": {PARTITION_KEY: {"S": "USER#iam"}, SORT_KEY: {"S": "FILE#tx"}}}}
    with stack.iam.observe() as seen:
        code, _, message = refused(lambda: stack.client("dynamodb", "operator-probe").transact_write_items(
            TransactItems=[update, put]))
    assert code == "AccessDeniedException" and "dynamodb:PutItem" in message
    decisions = [(d["action"], d["allowed"]) for d in seen if d["principal"] == "operator-probe"]
    assert decisions == [("dynamodb:UpdateItem", True), ("dynamodb:PutItem", False)]
    # All or nothing: the allowed Update did not happen either.
    usage = stack.client("dynamodb").get_item(TableName=table, ConsistentRead=True,
                                              Key={PARTITION_KEY: {"S": "USER#iam"}, SORT_KEY: {"S": "USAGE"}})
    assert "Item" not in usage


def test_presigned_urls_and_posts_act_with_the_rights_of_the_key_that_signed_them(stack):
    inside, outside = a_key(), a_key(THUMBNAIL_PREFIX)
    for key in (inside, outside):
        stack.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=b"hello")
    operator = stack.client("s3", "operator-probe")
    assert requests.get(operator.generate_presigned_url(
        "get_object", Params={"Bucket": stack.bucket, "Key": inside}), timeout=30).content == b"hello"
    denied = requests.get(operator.generate_presigned_url(
        "get_object", Params={"Bucket": stack.bucket, "Key": outside}), timeout=30)
    assert denied.status_code == 403 and "<Code>AccessDenied</Code>" in denied.text

    worker = stack.client("s3", "ingest-probe")  # may write thumbnails/ only
    for key, status in ((a_key(THUMBNAIL_PREFIX), 204), (a_key(), 403)):
        post = worker.generate_presigned_post(Bucket=stack.bucket, Key=key)
        sent = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"bytes")}, timeout=30)
        assert sent.status_code == status, sent.text


def test_a_missing_key_is_404_only_to_a_caller_that_may_list_the_bucket(stack):
    missing = a_key(THUMBNAIL_PREFIX)
    # The worker's role has s3:ListBucket; the API's may read thumbnails but not list.
    assert refused(lambda: stack.client("s3", "ingest-probe").head_object(
        Bucket=stack.bucket, Key=a_key()))[:2] == ("404", 404)
    assert refused(lambda: stack.client("s3", "api-probe").head_object(
        Bucket=stack.bucket, Key=missing))[:2] == ("403", 403)
    code, status, _ = refused(lambda: stack.client("s3", "api-probe").get_object(Bucket=stack.bucket, Key=missing))
    assert (code, status) == ("AccessDenied", 403)
    stack.client("s3").put_object(Bucket=stack.bucket, Key=missing, Body=b"now here")
    assert stack.client("s3", "api-probe").get_object(Bucket=stack.bucket, Key=missing)["Body"].read() == b"now here"


def test_an_operation_the_fronts_cannot_classify_is_refused_saying_so(stack):
    code, _, message = refused(lambda: stack.client("dynamodb").describe_limits())
    assert code == "UnclassifiedOperation" and "dynamodb:DescribeLimits" in message and "local/iam" in message
    code, status, message = refused(lambda: stack.client("s3").get_bucket_analytics_configuration(
        Bucket=stack.bucket, Id="x"))
    assert (code, status) == ("NotImplemented", 501) and "GetBucketAnalyticsConfiguration" in message


def test_only_what_aws_serves_unsigned_passes_unsigned(stack):
    endpoint = stack.outputs["awsEndpointUrl"]
    anonymous = requests.post(endpoint, data="{}", timeout=30, headers={
        "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"})
    assert anonymous.status_code == 400 and anonymous.json()["__type"] == "MissingAuthenticationTokenException"
    assert requests.get(f"{endpoint}/{stack.outputs['userPoolId']}/.well-known/jwks.json", timeout=30).json()["keys"]
    unsigned = boto3.client("cognito-idp", endpoint_url=endpoint, region_name="us-east-1",
                            config=Config(signature_version=botocore_unsigned()))
    with pytest.raises(ClientError) as wrong:
        unsigned.initiate_auth(ClientId=stack.outputs["userPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "nobody@example.com", "PASSWORD": "Wrong-password-1"})
    assert wrong.value.response["Error"]["Code"] in ("NotAuthorizedException", "UserNotFoundException")


def botocore_unsigned():
    from botocore import UNSIGNED

    return UNSIGNED


def test_a_wrong_secret_or_an_unknown_key_is_refused(stack):
    def client(key_id: str, secret: str):
        return boto3.client("dynamodb", endpoint_url=stack.outputs["awsEndpointUrl"], region_name="us-east-1",
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    known = stack.credentials()["AWS_ACCESS_KEY_ID"]
    assert refused(lambda: client(known, "wrong").list_tables())[0] == "InvalidSignatureException"
    assert refused(lambda: client("ASIANOBODY", "wrong").list_tables())[0] == "UnrecognizedClientException"


def test_the_event_source_mapping_polls_with_the_workers_role(stack):
    with stack.iam.observe() as seen:
        wait_for(lambda: any(d["action"] == "sqs:ReceiveMessage" for d in seen), 10)
    assert {d["principal"] for d in seen if d["action"] == "sqs:ReceiveMessage"} == {INGEST}


def test_the_bucket_policy_is_enforced_and_every_request_counts_as_tls(stack):
    deployer = stack.iam.probe(DEPLOYER)
    thumbnail = f"arn:aws:s3:::{stack.bucket}/{a_key(THUMBNAIL_PREFIX)}"
    assert stack.iam.decide(deployer, [Check("s3:GetObject", thumbnail)], service="s3", operation="GetObject") is None
    plain_http = stack.iam.decide(deployer, [Check("s3:GetObject", thumbnail, {"aws:SecureTransport": "false"})],
                                  service="s3", operation="GetObject")
    assert plain_http.decision.reason == EXPLICIT_DENY
    assert plain_http.decision.matches[0].sid == "DenyInsecureTransport"
    assert plain_http.decision.matches[0].policy == f"bucket:{stack.bucket}"


def test_decisions_are_recorded_one_json_line_each(stack, tmp_path, monkeypatch):
    from contract.names import Names
    from local.iam.authority import Authority

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    authority = Authority.for_stack(Names("recorded"), "us-east-1", "123456789012")
    api = authority.named(API)
    bucket = f"arn:aws:s3:::{Names('recorded').upload_bucket('123456789012')}"
    authority.decide(api, [Check("s3:GetObjectVersion", f"{bucket}/incoming/o/f/a"),
                           Check("s3:GetObjectVersion", f"{bucket}/elsewhere")], service="s3", operation="GetObject")
    authority.close()
    first, second = read(tmp_path)
    assert (first["principal"], first["action"], first["allowed"], first["statements"][0]["sid"]) == \
           (API, "s3:GetObjectVersion", True, "DownloadExaminedVersions")
    assert (second["allowed"], second["reason"], second["statements"]) == (False, "implicit deny", [])
    assert first["stack"] == "recorded" and first["operation"] == "GetObject"
