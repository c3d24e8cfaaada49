"""Quotas and rate limits over HTTP, on a local stack configured with small
ones, as a stack's config would set them."""

from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Key

from contract.quotas import Quotas
from contract.table import PARTITION_KEY, SORT_KEY, TICKET_SORT_KEY_PREFIX, file_sk, ticket_sk, user_pk
from local import cognito
from local.stack import LocalStack

from .conftest import Api, post_object, wait_for_status

LIMITS = Quotas(max_bytes=64, max_files=100, tickets_per_minute=6, part_url_requests_per_minute=6)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("quota-stack"), quotas=LIMITS) as running:
        yield running


def user(stack: LocalStack, name: str) -> Api:
    pool = stack.client("cognito-idp")
    signed_in = cognito.sign_in(pool, stack.outputs["userPoolClientId"],
                                cognito.create_user(pool, stack.outputs["userPoolId"], name))
    return Api(stack.outputs["apiUrl"], signed_in["AccessToken"])


def ticket(api: Api, size: int):
    return api("POST", "/uploads", json={"filename": "notes.txt", "contentType": "text/plain", "size": size})


def test_tickets_up_to_the_quota_succeed_the_next_is_403_and_deleting_frees_room(small):
    api = user(small, "quota@example.com")
    first = ticket(api, 40)
    assert first.status_code == 201
    # Declared 40 bytes, sent 30: once the worker has seen the object, 30 count.
    post_object(first.json(), b"x" * 30)
    assert wait_for_status(api, first.json()["fileId"])["status"] == "processed"
    assert api("GET", "/usage").json() == {"bytes": {"used": 30, "allowed": 64}, "files": {"used": 1, "allowed": 100}}
    assert ticket(api, 34).status_code == 201

    refused = ticket(api, 1)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert "64 bytes used of 64 allowed" in refused.json()["error"]["message"]

    assert api("DELETE", f"/files/{first.json()['fileId']}").status_code == 204
    assert api("GET", "/usage").json()["bytes"]["used"] == 34
    assert ticket(api, 30).status_code == 201


def test_a_burst_past_the_rate_limit_gets_429_with_retry_after(small):
    api = user(small, "burst@example.com")
    # Twice the limit and one: however the burst falls across a window's edge,
    # one window sees more than the limit.
    responses = []
    for _ in range(2 * LIMITS.tickets_per_minute + 1):
        responses.append(ticket(api, 1))
        if responses[-1].status_code == 429:
            break
    admitted, refused = responses[:-1], responses[-1]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert len(admitted) >= LIMITS.tickets_per_minute
    assert {response.status_code for response in admitted} == {201}


def _expire_tickets(stack: LocalStack, owner: str) -> list[dict]:
    """What an hour's wait does to the owner's tickets: each may now be reclaimed.
    The ticket items move to a reclaim time in the past (their sort key), and
    their records point at the moved items."""
    table = boto3_table(stack)
    tickets = table.query(KeyConditionExpression=Key(PARTITION_KEY).eq(user_pk(owner))
                          & Key(SORT_KEY).begins_with(TICKET_SORT_KEY_PREFIX), ConsistentRead=True)["Items"]
    for number, ticket in enumerate(tickets):
        moved = ticket_sk(1_000_000_000 + number, ticket["fileId"])
        table.delete_item(Key={PARTITION_KEY: ticket[PARTITION_KEY], SORT_KEY: ticket[SORT_KEY]})
        table.put_item(Item={**ticket, SORT_KEY: moved})
        table.update_item(Key={PARTITION_KEY: user_pk(owner), SORT_KEY: file_sk(ticket["fileId"])},
                          UpdateExpression="SET ticket = :moved", ExpressionAttributeValues={":moved": moved},
                          ConditionExpression="attribute_exists(pk)")
    return tickets


def boto3_table(stack: LocalStack):
    import boto3

    credentials = stack.credentials()
    return boto3.resource("dynamodb", endpoint_url=stack.outputs["awsEndpointUrl"], region_name=stack.outputs["region"],
                          aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"]).Table(stack.outputs["tableName"])


def test_abandoned_tickets_are_given_back_when_their_owner_runs_out_of_room(small):
    """Once over quota, the owner's expired tickets are reclaimed: the API looks
    for each ticket's object (which never came) and gives its bytes back. With
    IAM enforced as on AWS, that look must not be a 403 the API re-raises
    (a 500 on every ticket), and a ticket whose record TTL already reaped goes too."""
    api = user(small, "abandoner@example.com")
    kept, reaped = (ticket(api, 20).json() for _ in range(2))
    _expire_tickets(small, api.sub)
    # TTL reaped one record before anyone reclaimed its ticket.
    boto3_table(small).delete_item(Key={PARTITION_KEY: user_pk(api.sub), SORT_KEY: file_sk(reaped["fileId"])})
    # No GET /usage here: it would give the tickets back itself, and the
    # ticket below must meet the quota to take the reclaiming path.

    fits_only_once_they_go = ticket(api, 40)
    assert fits_only_once_they_go.status_code == 201, fits_only_once_they_go.text
    assert api("GET", "/usage").json()["bytes"]["used"] == 40
    assert api("GET", f"/files/{kept['fileId']}").status_code == 404
