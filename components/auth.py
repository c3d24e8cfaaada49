"""Who may use the system: a Cognito user pool signing in by email, and one
public app client for the dashboard (authorization code + PKCE, no secret,
because a browser cannot keep one)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contract import http
from contract.names import Names


@dataclass
class UserAuthArgs:
    names: Names
    # Globally unique per region: becomes https://<prefix>.auth.<region>.amazoncognito.com.
    domain_prefix: pulumi.Input[str]
    region: str
    callback_urls: pulumi.Input[Sequence[pulumi.Input[str]]]
    mfa: str
    deletion_protection: bool


def hosted_ui_url(domain_prefix: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """Known before the pool exists, which lets the dashboard's CSP name it."""
    return pulumi.Output.concat("https://", domain_prefix, ".auth.", region, ".amazoncognito.com")


class UserAuth(pulumi.ComponentResource):
    user_pool: aws.cognito.UserPool
    client: aws.cognito.UserPoolClient
    issuer: pulumi.Output[str]
    hosted_ui_url: pulumi.Output[str]

    def __init__(self, name: str, args: UserAuthArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:auth:UserAuth", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.user_pool = aws.cognito.UserPool(
            f"{name}-pool",
            name=args.names.user_pool,
            username_attributes=list(http.USERNAME_ATTRIBUTES),
            auto_verified_attributes=list(http.AUTO_VERIFIED_ATTRIBUTES),
            admin_create_user_config={"allow_admin_create_user_only": http.ADMIN_CREATE_USER_ONLY},
            password_policy=dataclasses.asdict(http.PASSWORD_POLICY),
            mfa_configuration=args.mfa,
            # Authenticator apps only: SMS would need an SNS role and budget.
            software_token_mfa_configuration={"enabled": args.mfa != "OFF"},
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            deletion_protection="ACTIVE" if args.deletion_protection else "INACTIVE",
            opts=child,
        )
        self.client = aws.cognito.UserPoolClient(
            f"{name}-client",
            name=args.names.user_pool_client,
            user_pool_id=self.user_pool.id,
            generate_secret=False,
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_flows=list(http.OAUTH_FLOWS),
            allowed_oauth_scopes=list(http.OAUTH_SCOPES),
            supported_identity_providers=list(http.IDENTITY_PROVIDERS),
            callback_urls=args.callback_urls,
            logout_urls=args.callback_urls,
            explicit_auth_flows=list(http.EXPLICIT_AUTH_FLOWS),
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            opts=child,
        )
        domain = aws.cognito.UserPoolDomain(
            f"{name}-domain", domain=args.domain_prefix, user_pool_id=self.user_pool.id, opts=child
        )
        self.issuer = self.user_pool.id.apply(lambda pool_id: http.issuer(args.region, pool_id))
        self.hosted_ui_url = hosted_ui_url(domain.domain, args.region)
        self.register_outputs({
            "userPoolId": self.user_pool.id,
            "userPoolClientId": self.client.id,
            "issuer": self.issuer,
            "hostedUiUrl": self.hosted_ui_url,
        })
