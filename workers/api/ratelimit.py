"""Per-user rate limits on the requests that sign upload URLs: tickets and part
URLs. API Gateway's own throttle is shared by every user; this one is each
user's, so one user's flood leaves room for everyone else.

The API function runs in many environments at once, so the count lives in the
table: a fixed one-minute window per user and action, one item each, counted
by one conditional UpdateItem. A refused request writes nothing, so hammering
does not lengthen the wait. A fixed window lets a burst of up to twice the
limit through across a window's edge; the stage throttle bounds that."""

from __future__ import annotations

import math
import time

from botocore.exceptions import ClientError

from contract.table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, rate_sk, user_pk
from workers.api.errors import rate_limited
from workers.api.quota import limits
from workers.errors import is_condition_failed
from workers.storage import clients

WINDOW_S = 60
TICKETS = "tickets"
PART_URLS = "partUrls"
_WHAT = {TICKETS: "upload tickets", PART_URLS: "part URL requests"}


def admit_ticket(owner_id: str) -> None:
    admit(owner_id, TICKETS, limits().tickets_per_minute)


def admit_part_urls(owner_id: str) -> None:
    admit(owner_id, PART_URLS, limits().part_url_requests_per_minute)


def admit(owner_id: str, action: str, limit: int, now: float | None = None) -> None:
    """Count one request of the caller's against `limit` in the current window,
    or refuse it with a 429 whose Retry-After is the seconds until the window ends."""
    now = time.time() if now is None else now
    start = int(now // WINDOW_S) * WINDOW_S
    try:
        clients.table().update_item(
            Key={PARTITION_KEY: user_pk(owner_id), SORT_KEY: rate_sk(action, start)},
            UpdateExpression=f"ADD #requests :one SET {TTL_ATTRIBUTE} = :expires",
            ConditionExpression="attribute_not_exists(#requests) OR #requests < :limit",
            ExpressionAttributeNames={"#requests": "requests"},
            # The window's count is of no use once it ends; TTL reaps it.
            ExpressionAttributeValues={":one": 1, ":limit": limit, ":expires": start + WINDOW_S},
        )
    except ClientError as exc:
        if not is_condition_failed(exc):
            raise
        retry_after_s = max(1, math.ceil(start + WINDOW_S - now))
        raise rate_limited(f"Too many {_WHAT[action]}: at most {limit} a minute; retry in {retry_after_s} s",
                           retry_after_s) from None
