"""The gateway's JWT authorizer refuses every token API Gateway would refuse,
before the function is invoked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from contract.names import Names
from local import cognito

from .conftest import Api

UNAUTHORIZED = {"message": "Unauthorized"}


def _moto_signing_key():
    # moto signs every pool's tokens with this published test key; it lets a test
    # mint tokens that differ from real ones in exactly one claim.
    return jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json")).key


def _claims(stack, **changes) -> dict:
    pool = stack.outputs["userPoolId"]
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.{stack.outputs['region']}.amazonaws.com/{pool}",
        "sub": "00000000-0000-4000-8000-000000000000",
        "client_id": stack.outputs["userPoolClientId"],
        "token_use": "access",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _mint(claims: dict, key=None, algorithm: str = "RS256", kid: str | None = "dummy") -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims, key or _moto_signing_key(), algorithm=algorithm, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_key_pem(stack, encoding: serialization.PublicFormat) -> bytes:
    """The pool's public key as anyone can fetch it, in PEM."""
    jwks = requests.get(f"{stack.outputs['awsEndpointUrl']}/{stack.outputs['userPoolId']}/.well-known/jwks.json",
                        timeout=30).json()
    return jwt.PyJWK(jwks["keys"][0]).key.public_bytes(serialization.Encoding.PEM, encoding)


def _hs256_with_public_key(stack, encoding: serialization.PublicFormat) -> str:
    """The algorithm confusion attack: HMAC with the RSA public key as the secret.
    PyJWT refuses to sign that, so the token is put together by hand."""
    signing_input = ".".join(_b64(json.dumps(part).encode())
                             for part in ({"alg": "HS256", "typ": "JWT", "kid": "dummy"}, _claims(stack)))
    signature = hmac.new(_public_key_pem(stack, encoding), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _with_payload(token: str, **changes) -> str:
    """A real token with claims changed and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_b64(json.dumps({**claims, **changes}).encode())}.{signature}"


def _flip_last_signature_character(token: str) -> str:
    # The middle of the signature, so the change is not lost in base64's padding bits.
    head, _, signature = token.rpartition(".")
    middle = len(signature) // 2
    return f"{head}.{signature[:middle]}{'A' if signature[middle] != 'A' else 'B'}{signature[middle + 1:]}"


def test_both_cognito_tokens_are_accepted(stack, tokens):
    # API Gateway's JWT authorizer checks `aud` (the id token) or `client_id`
    # (the access token) and not `token_use`, so either token of the app client passes.
    for name in ("AccessToken", "IdToken"):
        assert Api(stack.outputs["apiUrl"], tokens[name])("GET", "/files").status_code == 200, name


def test_a_minted_token_with_the_right_claims_is_accepted(stack, invocations):
    # Proves the refusals below are caused by the one claim each changes, and
    # that `invocations` sees the function run.
    assert Api(stack.outputs["apiUrl"], _mint(_claims(stack)))("GET", "/files").status_code == 200
    assert len(invocations) == 1


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda stack, tokens: None, id="no token"),
        pytest.param(lambda stack, tokens: "", id="empty bearer"),
        pytest.param(lambda stack, tokens: "garbage", id="garbage"),
        pytest.param(lambda stack, tokens: "a.b", id="two segments"),
        pytest.param(lambda stack, tokens: tokens["AccessToken"] + ".x", id="four segments"),
        pytest.param(lambda stack, tokens: tokens["AccessToken"].rpartition(".")[0] + ".", id="signature stripped"),
        pytest.param(lambda stack, tokens: _flip_last_signature_character(tokens["AccessToken"]),
                     id="signature altered"),
        pytest.param(lambda stack, tokens: _with_payload(tokens["AccessToken"], sub="someone-else"),
                     id="claims altered under the real signature"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack), rsa.generate_private_key(public_exponent=65537,
                                                                                          key_size=2048)),
                     id="signed by another key"),
        pytest.param(lambda stack, tokens: jwt.encode(_claims(stack), None, algorithm="none",
                                                      headers={"kid": "dummy"}), id="alg none"),
        pytest.param(lambda stack, tokens: _hs256_with_public_key(stack,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo),
                     id="HS256 keyed with the public key PEM"),
        pytest.param(lambda stack, tokens: _hs256_with_public_key(stack, serialization.PublicFormat.PKCS1),
                     id="HS256 keyed with the PKCS1 public key PEM"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack), algorithm="RS512"), id="RS512 with the pool key"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack), kid="unknown"), id="unknown kid"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack), kid=None), id="no kid"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, client_id="someone-elses-client")),
                     id="wrong client_id"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, client_id=None, aud="someone-elses-client")),
                     id="wrong aud"),
        # API Gateway reads client_id only when there is no aud.
        pytest.param(lambda stack, tokens: _mint(_claims(stack, aud="someone-elses-client")),
                     id="wrong aud beside the right client_id"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, client_id=None)), id="neither aud nor client_id"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, aud=[])), id="empty aud list"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, aud={"client_id": stack.outputs["userPoolClientId"]})),
                     id="aud that is an object"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, aud=[{"id": stack.outputs["userPoolClientId"]}])),
                     id="aud list holding an object"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, iat=int(time.time()) - 7200,
                                                         exp=int(time.time()) - 3600)), id="expired"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, exp=None)), id="no exp"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, sub=None)), id="no sub"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, nbf=int(time.time()) + 3600)), id="not yet valid"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, iat=int(time.time()) + 3600)),
                     id="issued in the future"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, iss="https://cognito-idp.us-east-1.amazonaws.com/other")),
                     id="other issuer"),
        pytest.param(lambda stack, tokens: _mint(_claims(stack, iss=None)), id="no issuer"),
    ],
)
def test_a_bad_token_is_401_before_the_function_runs(stack, tokens, invocations, token):
    response = Api(stack.outputs["apiUrl"], None)("GET", "/files", headers=_bearer(token(stack, tokens)))
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    assert invocations == []


def _bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def test_a_token_that_is_not_a_bearer_token_is_401(stack, tokens, invocations):
    response = Api(stack.outputs["apiUrl"], None)("GET", "/files",
                                                  headers={"Authorization": f"Basic {tokens['AccessToken']}"})
    assert response.status_code == 401 and invocations == []


def test_tokens_of_another_app_client_of_the_pool_are_401(stack, invocations):
    pool = stack.client("cognito-idp")
    other_client = pool.create_user_pool_client(
        UserPoolId=stack.outputs["userPoolId"], ClientName="another-app", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    signed_in = cognito.sign_in(pool, other_client, stack.outputs["demoUser"])
    for name in ("AccessToken", "IdToken"):
        assert Api(stack.outputs["apiUrl"], signed_in[name])("GET", "/files").status_code == 401, name
    assert invocations == []


def test_tokens_of_another_user_pool_are_401(stack, invocations):
    # moto signs every pool's tokens with one key, so only the issuer and the
    # client tell these apart from the stack's own: the authorizer must check both.
    cognito_idp = stack.client("cognito-idp")
    other = cognito.create_user_pool(cognito_idp, Names("other"), stack.outputs["region"],
                                     stack.outputs["awsEndpointUrl"], stack.dashboard_url)
    user = cognito.create_user(cognito_idp, other.pool_id, stack.outputs["demoUser"]["username"])
    signed_in = cognito.sign_in(cognito_idp, other.client_id, user)
    for name in ("AccessToken", "IdToken"):
        assert Api(stack.outputs["apiUrl"], signed_in[name])("GET", "/files").status_code == 401, name
    assert invocations == []
