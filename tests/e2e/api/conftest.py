"""One local stack for the API's end-to-end tests, driven over real HTTP."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from urllib.parse import unquote

import jsonschema
import jwt
import pytest
import requests

from contract import events, functions
from local import cognito
from local.runtime import ExecutionEnvironment
from local.stack import LocalStack

POLL_S = 0.2


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("api-stack"), moto_port=0, api_port=0) as running:
        yield running


@pytest.fixture(scope="session")
def tokens(stack) -> dict[str, str]:
    return cognito.sign_in(stack.client("cognito-idp"), stack.outputs["userPoolClientId"], stack.outputs["demoUser"])


class Api:
    """A client of the HTTP API, as the dashboard is one."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.token = token
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    @property
    def sub(self) -> str:
        """The caller's id, read from the token as the gateway reads it."""
        return jwt.decode(self.token, options={"verify_signature": False})["sub"]

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=30, **kwargs)


def demo_api(stack: LocalStack) -> Api:
    """The API as the stack's demo user, signed in; for a module's own stack."""
    tokens = cognito.sign_in(stack.client("cognito-idp"), stack.outputs["userPoolClientId"], stack.outputs["demoUser"])
    return Api(stack.outputs["apiUrl"], tokens["AccessToken"])


@pytest.fixture(scope="session")
def api(stack, tokens) -> Api:
    return Api(stack.outputs["apiUrl"], tokens["AccessToken"])


@pytest.fixture(scope="session")
def other_api(stack) -> Api:
    """A second user of the same pool, created the way the demo user is."""
    pool = stack.client("cognito-idp")
    user = cognito.create_user(pool, stack.outputs["userPoolId"], "mallory@example.com")
    signed_in = cognito.sign_in(pool, stack.outputs["userPoolClientId"], user)
    return Api(stack.outputs["apiUrl"], signed_in["AccessToken"])


@pytest.fixture
def invocations(monkeypatch) -> list[dict]:
    """The events the API function is invoked with during one test."""
    events: list[dict] = []
    invoke = ExecutionEnvironment.invoke

    def recording(environment, event):
        if environment.spec.handler == functions.API.handler:
            events.append(event)
        return invoke(environment, event)

    monkeypatch.setattr(ExecutionEnvironment, "invoke", recording)
    return events


def upload_small(api: Api, name: str, data: bytes, content_type: str = "text/plain") -> str:
    ticket = api("POST", "/uploads", json={"filename": name, "contentType": content_type, "size": len(data)})
    assert ticket.status_code == 201, ticket.text
    post_object(ticket.json(), data)
    return ticket.json()["fileId"]


def post_object(ticket: dict, data: bytes) -> None:
    """Upload the bytes of a presigned POST ticket, as the dashboard does."""
    upload = ticket["upload"]
    assert upload["method"] == "POST"
    sent = requests.post(upload["url"], data=upload["fields"], files={"file": ("file", data)}, timeout=30)
    assert sent.status_code in (200, 204)


def wait_for_status(api: Api, file_id: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        file = api("GET", f"/files/{file_id}").json()
        if file["status"] != "pending":
            return file
        time.sleep(POLL_S)
    raise AssertionError(f"{file_id} still pending after {timeout_s}s")


# What a browser runs or renders as a page, in the origin that serves it.
ACTIVE_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                        "text/javascript", "application/javascript")
# RFC 6266 as filenames.attachment_disposition writes it: a quoted ASCII
# fallback with no quote, backslash or control character, then the UTF-8 name
# percent-encoded. A CR or LF cannot hide in either part.
_SAFE_DISPOSITION = re.compile(r"""attachment; filename="[^"\\\x00-\x1f\x7f]*"; filename\*=UTF-8''[A-Za-z0-9%._~-]+""")


def assert_a_safe_attachment(response: requests.Response) -> None:
    """The response of a download URL saves a file and renders nothing."""
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert _SAFE_DISPOSITION.fullmatch(disposition), disposition
    assert response.headers["content-type"].split(";")[0].strip().lower() not in ACTIVE_CONTENT_TYPES
    assert "set-cookie" not in response.headers
    saved_as = unquote(disposition.split("filename*=UTF-8''", 1)[1])
    assert "/" not in saved_as and "\\" not in saved_as and ".." not in saved_as, saved_as
    assert not [ch for ch in saved_as if unicodedata.category(ch) in ("Cc", "Cf", "Cs")], saved_as


def told(stack, ops_stack, file_id: str) -> list[dict]:
    """Every lifecycle event the bus received about the file, each delivery once, read
    from the bus's log group as `ops events` reads it, once the stream mapping has
    caught up with every write made so far."""
    assert stack.stream_mapping.settle(30), "the stream mapping did not catch up"
    found = []
    for page in ops_stack.client("logs").get_paginator("filter_log_events").paginate(
            logGroupName=ops_stack.outputs.event_log_group, filterPattern=f'"{file_id}"'):
        found += [json.loads(line["message"]) for line in page["events"]]
    return [event for event in found if event["detail"]["fileId"] == file_id]


def kinds(found: list[dict]) -> list[str]:
    """The events' detail types, oldest first by their sequence."""
    return [event["detail-type"] for event in sorted(found, key=lambda e: e["detail"]["sequence"])]


def assert_valid(found: list[dict]) -> None:
    for event in found:
        jsonschema.validate(event, events.schema(event["detail-type"]), cls=jsonschema.Draft202012Validator)
