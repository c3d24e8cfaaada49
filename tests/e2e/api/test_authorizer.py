"""The gateway's JWT authorizer refuses every token API Gateway would refuse."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

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


def _mint(claims: dict, key=None) -> str:
    return jwt.encode(claims, key or _moto_signing_key(), algorithm="RS256", headers={"kid": "dummy"})


def test_both_cognito_tokens_are_accepted(stack, tokens):
    for name in ("AccessToken", "IdToken"):
        assert Api(stack.outputs["apiUrl"], tokens[name])("GET", "/files").status_code == 200, name


def test_a_minted_token_with_the_right_claims_is_accepted(stack):
    # Proves the refusals below are caused by the one claim each changes.
    assert Api(stack.outputs["apiUrl"], _mint(_claims(stack)))("GET", "/files").status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda stack: None, id="no token"),
        pytest.param(lambda stack: "garbage", id="garbage"),
        pytest.param(lambda stack: _mint(_claims(stack), rsa.generate_private_key(public_exponent=65537,
                                                                                  key_size=2048)),
                     id="signed by another key"),
        pytest.param(lambda stack: _mint(_claims(stack, client_id="someone-elses-client")), id="wrong client_id"),
        pytest.param(lambda stack: _mint(_claims(stack, client_id=None, aud="someone-elses-client")),
                     id="wrong aud"),
        pytest.param(lambda stack: _mint(_claims(stack, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
                     id="expired"),
        pytest.param(lambda stack: _mint(_claims(stack, nbf=int(time.time()) + 3600)), id="not yet valid"),
        pytest.param(lambda stack: _mint(_claims(stack, iat=int(time.time()) + 3600)), id="issued in the future"),
        pytest.param(lambda stack: _mint(_claims(stack, iss="https://cognito-idp.us-east-1.amazonaws.com/other")),
                     id="other issuer"),
    ],
)
def test_a_bad_token_is_401_before_the_function_runs(stack, token):
    response = Api(stack.outputs["apiUrl"], token(stack))("GET", "/files")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
