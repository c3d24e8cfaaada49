"""The user pool on the emulator: pool, app client and a demo user.

moto's Cognito issues real RS256 tokens whose `iss` is AWS's own
`https://cognito-idp.{region}.amazonaws.com/{poolId}`, and serves the signing
keys at `{endpoint}/{poolId}/.well-known/jwks.json`. The gateway's authorizer
is configured with that issuer, exactly as the deployed HTTP API is; only the
place the keys are fetched from differs, because the issuer's host is not
reachable locally.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from contract import http
from contract.names import Names

DEMO_USERNAME = "demo@example.com"
LOCAL_AUTH_FLOW = "ALLOW_USER_PASSWORD_AUTH"


@dataclass(frozen=True)
class UserPool:
    pool_id: str
    client_id: str
    issuer: str
    jwks_url: str


def create_user_pool(cognito, names: Names, region: str, endpoint: str, dashboard_url: str) -> UserPool:
    pool_id = cognito.create_user_pool(
        PoolName=names.user_pool,
        UsernameAttributes=list(http.USERNAME_ATTRIBUTES),
        AutoVerifiedAttributes=list(http.AUTO_VERIFIED_ATTRIBUTES),
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": http.ADMIN_CREATE_USER_ONLY},
        Policies={
            "PasswordPolicy": {
                "MinimumLength": http.PASSWORD_POLICY.minimum_length,
                "RequireUppercase": http.PASSWORD_POLICY.require_uppercase,
                "RequireLowercase": http.PASSWORD_POLICY.require_lowercase,
                "RequireNumbers": http.PASSWORD_POLICY.require_numbers,
                "RequireSymbols": http.PASSWORD_POLICY.require_symbols,
                "TemporaryPasswordValidityDays": http.PASSWORD_POLICY.temporary_password_validity_days,
            }
        },
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=names.user_pool_client,
        GenerateSecret=False,
        # Scripts and the tests sign in with a password, which only the local pool allows.
        ExplicitAuthFlows=[LOCAL_AUTH_FLOW, *http.EXPLICIT_AUTH_FLOWS],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=list(http.OAUTH_FLOWS),
        AllowedOAuthScopes=list(http.OAUTH_SCOPES),
        SupportedIdentityProviders=list(http.IDENTITY_PROVIDERS),
        PreventUserExistenceErrors="ENABLED",
        EnableTokenRevocation=True,
        CallbackURLs=[dashboard_url],
        LogoutURLs=[dashboard_url],
    )["UserPoolClient"]["ClientId"]
    return UserPool(
        pool_id=pool_id,
        client_id=client_id,
        issuer=http.issuer(region, pool_id),
        jwks_url=f"{endpoint}/{pool_id}/.well-known/jwks.json",
    )


def create_user(cognito, pool_id: str, username: str) -> dict[str, str]:
    """A confirmed user with a fresh random password, ready to sign in."""
    # The suffix guarantees each character class the password policy asks for.
    password = secrets.token_urlsafe(18) + "aA1!"
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        UserAttributes=[{"Name": "email", "Value": username}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
    return {"username": username, "password": password}


def sign_in(cognito, client_id: str, user: dict[str, str]) -> dict[str, str]:
    """USER_PASSWORD_AUTH, as scripts and the tests sign in (the dashboard uses
    the Hosted UI's code flow): the AuthenticationResult's tokens."""
    return cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]},
    )["AuthenticationResult"]
