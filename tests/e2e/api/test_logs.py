"""No log line of the system holds a secret: a whole session on its own stack
(sign in through the Hosted UI, refresh, upload, process, list, download,
abort, delete) and then every log it wrote is searched for every secret it handled."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from contract.http import IDEMPOTENCY_KEY_HEADER
from local.stack import LocalStack
from tests.uploading import sha256_b64
from workers.api.limits import MULTIPART_THRESHOLD

from .conftest import Api, post_object, upload_small, wait_for_status

SIGNATURE = re.compile(r"(?:X-Amz-Signature=|Signature=)([0-9a-fA-F]{16,})")


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("logs-stack")) as running:
        yield running


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden":
            self.fields[attributes["name"]] = attributes["value"]


def _sign_in_through_the_hosted_ui(stack) -> dict[str, str]:
    """The dashboard's code flow with PKCE, then a refresh: every token both grants give."""
    out, client_id = stack.outputs, stack.outputs["userPoolClientId"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"client_id": client_id, "redirect_uri": stack.dashboard_url, "response_type": "code",
             "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"}
    page = requests.get(f"{out['hostedUiUrl']}/oauth2/authorize?{urlencode(query)}", timeout=30)
    form = _Form()
    form.feed(page.text)
    signed_in = requests.post(f"{out['hostedUiUrl']}/login", allow_redirects=False, timeout=30,
                              data={**form.fields, "username": out["demoUser"]["username"],
                                    "password": out["demoUser"]["password"]})
    code = parse_qs(urlsplit(signed_in.headers["Location"]).query)["code"][0]
    tokens = requests.post(f"{out['hostedUiUrl']}/oauth2/token", timeout=30, data={
        "grant_type": "authorization_code", "client_id": client_id, "code": code,
        "redirect_uri": stack.dashboard_url, "code_verifier": verifier}).json()
    refreshed = requests.post(f"{out['hostedUiUrl']}/oauth2/token", timeout=30, data={
        "grant_type": "refresh_token", "client_id": client_id, "refresh_token": tokens["refresh_token"]}).json()
    return {"code": code, **{name: value for name, value in tokens.items() if name.endswith("_token")},
            **{f"refreshed {name}": value for name, value in refreshed.items() if name.endswith("_token")}}


def _session(stack) -> dict[str, str]:
    """Everything a user does, returning each secret that passed by."""
    found = _sign_in_through_the_hosted_ui(stack)
    api = Api(stack.outputs["apiUrl"], found["access_token"])
    file_id = upload_small(api, "secret-notes.txt", b"hello")
    ticket = api("POST", "/uploads", json={"filename": "b.txt", "contentType": "text/plain", "size": 5},
                 headers={IDEMPOTENCY_KEY_HEADER: "retry-1"}).json()
    post_object(ticket, b"hello")
    found["post signature"] = ticket["upload"]["fields"]["x-amz-signature"]
    for uploaded in (file_id, ticket["fileId"]):
        assert wait_for_status(api, uploaded)["status"] == "processed"
    cursor = api("GET", "/files", params={"limit": 1}).json()["nextCursor"]
    found["cursor"] = cursor
    assert api("GET", "/files", params={"cursor": cursor}).status_code == 200
    assert api("GET", "/files", params={"cursor": cursor[:-1] + "x"}).status_code == 400
    download = api("POST", f"/files/{file_id}/download").json()["url"]
    assert requests.get(download, timeout=30).content == b"hello"
    big = api("POST", "/uploads", json={"filename": "big.bin", "contentType": "application/octet-stream",
                                         "size": MULTIPART_THRESHOLD + 1}).json()
    asked = [{"partNumber": n, "sha256": sha256_b64(b"%d" % n)} for n in (1, 2)]
    parts = api("POST", f"/uploads/{big['fileId']}/parts", json={"parts": asked}).json()["parts"]
    assert api("DELETE", f"/uploads/{big['fileId']}").status_code == 204
    for url in [download, *(part["url"] for part in parts)]:
        found[f"signature of {url[:60]}"] = SIGNATURE.search(url).group(1)
    assert api("DELETE", f"/files/{file_id}").status_code == 204
    assert Api(stack.outputs["apiUrl"], found["id_token"])("GET", "/files").status_code == 200
    assert Api(stack.outputs["apiUrl"], found["access_token"][:-2])("GET", "/files").status_code == 401
    return found


def test_no_log_holds_a_token_password_cursor_secret_signature_or_key(own_stack, caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="local")
    found = _session(own_stack)
    outputs = own_stack.outputs
    found.update({
        "password": outputs["demoUser"]["password"],
        "cursor secret": own_stack.client("ssm").get_parameter(
            Name=own_stack.names.cursor_secret_parameter, WithDecryption=True)["Parameter"]["Value"],
    })
    # Every principal's secret key: the functions', the operator's, the deployer's
    # (random per start, so finding one in a log cannot be a coincidence).
    found.update({f"AWS secret key {n}": secret for n, secret in enumerate(own_stack.iam.secrets())})
    for name, token in list(found.items()):
        if name.endswith("_token") and token.count(".") == 2:
            # The signature alone is what makes a token usable, so it must not leak by itself either.
            found[f"{name} signature"] = token.rsplit(".", 1)[1]
    captured = capfd.readouterr()
    logs = {path.name: path.read_text(errors="replace") for path in own_stack.log_dir.iterdir()
            # moto's own request log stands for AWS's side (like S3's access logs), not a log this system writes.
            if path.name != "moto.log"}
    logs.update({"local.* loggers": caplog.text, "stdout": captured.out, "stderr": captured.err})
    # The API function logs nothing on success; the worker and the gateway prove the capture works.
    assert "api.log" in logs and logs["ingest.log"] and logs["local.* loggers"]
    leaks = [(secret, log) for secret, value in found.items() for log, text in logs.items() if value in text]
    assert leaks == []
