"""The emulated Hosted UI keeps the OAuth rules the real one enforces: registered
redirect URIs only, PKCE S256 required, one-time codes bound to their client,
redirect URI and verifier."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def authorize(stack):
    out = stack.outputs
    return {
        "response_type": "code",
        "client_id": out["userPoolClientId"],
        "redirect_uri": out["webUrl"],
        "state": "s1",
        "code_challenge_method": "S256",
    }


def log_in(stack, params, password=None):
    form = {**params, "username": stack.outputs["demoUser"]["username"],
            "password": password or stack.outputs["demoUser"]["password"]}
    return requests.post(f"{stack.outputs['hostedUiUrl']}/login", data=form, allow_redirects=False, timeout=10)


def code_for(stack, authorize, verifier):
    response = log_in(stack, {**authorize, "code_challenge": challenge(verifier)})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == stack.outputs["webUrl"]
    query = parse_qs(location.query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def token(stack, **form):
    return requests.post(f"{stack.outputs['hostedUiUrl']}/oauth2/token", data=form, timeout=10)


def test_the_code_flow_with_pkce_yields_tokens_the_api_accepts(stack, authorize):
    verifier = secrets.token_urlsafe(48)
    code = code_for(stack, authorize, verifier)
    response = token(stack, grant_type="authorization_code", client_id=authorize["client_id"], code=code,
                     redirect_uri=authorize["redirect_uri"], code_verifier=verifier)
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == authorize["client_id"]
    listed = requests.get(f"{stack.outputs['apiUrl']}/files",
                          headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10)
    assert listed.status_code == 200

    again = token(stack, grant_type="authorization_code", client_id=authorize["client_id"], code=code,
                  redirect_uri=authorize["redirect_uri"], code_verifier=verifier)
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}, "codes are one-time"

    refreshed = token(stack, grant_type="refresh_token", client_id=authorize["client_id"],
                      refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200 and refreshed.json()["access_token"]


def test_a_wrong_verifier_gets_invalid_grant(stack, authorize):
    code = code_for(stack, authorize, secrets.token_urlsafe(48))
    response = token(stack, grant_type="authorization_code", client_id=authorize["client_id"], code=code,
                     redirect_uri=authorize["redirect_uri"], code_verifier=secrets.token_urlsafe(48))
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"redirect_uri": "https://evil.example/"}, "redirect_mismatch"),
        ({"client_id": "not-a-client"}, "invalid client_id"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "PKCE"),
    ],
)
def test_authorize_refuses_what_cognito_refuses(stack, authorize, change, reason):
    params = {**authorize, "code_challenge": challenge("v"), **change}
    response = requests.get(f"{stack.outputs['hostedUiUrl']}/oauth2/authorize", params=params, timeout=10)
    assert response.status_code == 400 and reason in response.text


def test_logout_redirects_only_to_a_registered_uri(stack, authorize):
    base = f"{stack.outputs['hostedUiUrl']}/logout"
    ok = requests.get(base, params={"client_id": authorize["client_id"], "logout_uri": stack.outputs["webUrl"]},
                      allow_redirects=False, timeout=10)
    assert ok.status_code == 302 and ok.headers["Location"] == stack.outputs["webUrl"]
    bad = requests.get(base, params={"client_id": authorize["client_id"], "logout_uri": "https://evil.example/"},
                       allow_redirects=False, timeout=10)
    assert bad.status_code == 400
