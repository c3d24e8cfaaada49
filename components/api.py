"""The HTTP API: exactly `API_ROUTES`, every one behind the Cognito
JWT authorizer, throttled, access-logged, and served by one function that
signs URLs but never touches file bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.lambda_function import PythonFunction, PythonFunctionArgs
from components.packaging import LambdaPackage
from components.secret import GeneratedSecret, GeneratedSecretArgs
from contract import permissions
from contract.functions import API, ENV_CURSOR_SECRET_PARAMETER
from contract.http import (
    API_CORS_ALLOW_HEADERS,
    API_CORS_ALLOW_METHODS,
    API_CORS_EXPOSE_HEADERS,
    API_CORS_MAX_AGE_S,
    API_ROUTES,
)
from contract.names import Names
from contract.quotas import Quotas

STAGE = "$default"
# Access logging adds the log group to one account-wide CloudWatch Logs resource
# policy, capped at 5,120 characters; in a busy account the stage update then
# fails. Groups under this prefix are enabled without growing that policy:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-and-resource-policy.html
VENDED_LOGS_PREFIX = "/aws/vendedlogs/"
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId",
    "sourceIp": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "sub": "$context.authorizer.claims.sub",
    "authorizerError": "$context.authorizer.error",
    "integrationError": "$context.integrationErrorMessage",
})


@dataclass
class HttpApiArgs:
    names: Names
    bucket: aws.s3.Bucket
    table: aws.dynamodb.Table
    package: LambdaPackage
    # Values for the function's environment variables.
    variables: Mapping[str, pulumi.Input[str]]
    kms_key_arn: str | None
    cors_origins: pulumi.Input[Sequence[pulumi.Input[str]]]
    jwt_issuer: pulumi.Input[str]
    jwt_audience: pulumi.Input[str]
    burst_limit: int
    rate_limit: int
    # Per user, enforced by the function; the stage's throttle above is for everyone at once.
    quotas: Quotas
    log_retention_days: int


class HttpApi(pulumi.ComponentResource):
    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    handler: PythonFunction
    # The key that signs listing cursors.
    cursor_secret: GeneratedSecret
    url: pulumi.Output[str]

    def __init__(self, name: str, args: HttpApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:api:HttpApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.cursor_secret = GeneratedSecret(
            f"{name}-cursor-secret",
            GeneratedSecretArgs(
                parameter_name=args.names.cursor_secret_parameter,
                description="HMAC key for the API's listing cursors; replacing it only invalidates open cursors",
                kms_key_arn=args.kms_key_arn,
            ),
            opts=child,
        )
        self.handler = PythonFunction(
            f"{name}-handler",
            PythonFunctionArgs(
                names=args.names,
                spec=API,
                package=args.package,
                log_retention_days=args.log_retention_days,
                variables={
                    **args.variables,
                    **args.quotas.variables(),
                    # The name only: the function reads the value at run time.
                    ENV_CURSOR_SECRET_PARAMETER: self.cursor_secret.parameter.name,
                },
                resources={
                    permissions.BUCKET: args.bucket.arn,
                    permissions.TABLE: args.table.arn,
                    permissions.CURSOR_PARAMETER: self.cursor_secret.parameter.arn,
                    **permissions.kms_values(args.kms_key_arn),
                },
            ),
            opts=child,
        )
        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=args.names.prefix,
            protocol_type="HTTP",
            # API Gateway answers preflight itself, before the authorizer runs; the
            # local gateway answers it from the same contract.
            cors_configuration={
                "allow_origins": args.cors_origins,
                "allow_methods": list(API_CORS_ALLOW_METHODS),
                "allow_headers": list(API_CORS_ALLOW_HEADERS),
                "expose_headers": list(API_CORS_EXPOSE_HEADERS),
                "max_age": API_CORS_MAX_AGE_S,
            },
            opts=child,
        )
        authorizer = aws.apigatewayv2.Authorizer(
            f"{name}-authorizer",
            api_id=self.api.id,
            name="cognito",
            authorizer_type="JWT",
            identity_sources=["$request.header.Authorization"],
            jwt_configuration={"issuer": args.jwt_issuer, "audiences": [args.jwt_audience]},
            opts=child,
        )
        integration = aws.apigatewayv2.Integration(
            f"{name}-integration",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_uri=self.handler.function.arn,
            payload_format_version="2.0",
            timeout_milliseconds=API.timeout_s * 1000,
            opts=child,
        )
        for route_key in API_ROUTES:
            aws.apigatewayv2.Route(
                f"{name}-route-{_slug(route_key)}",
                api_id=self.api.id,
                route_key=route_key,
                target=pulumi.Output.concat("integrations/", integration.id),
                authorization_type="JWT",
                authorizer_id=authorizer.id,
                opts=child,
            )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"{VENDED_LOGS_PREFIX}apigateway/{args.names.prefix}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name=STAGE,
            auto_deploy=True,
            default_route_settings={
                "throttling_burst_limit": args.burst_limit,
                "throttling_rate_limit": args.rate_limit,
            },
            access_log_settings={"destination_arn": access_logs.arn, "format": ACCESS_LOG_FORMAT},
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.handler.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
            opts=child,
        )
        self.url = self.api.api_endpoint
        self.register_outputs({"apiUrl": self.url, "apiId": self.api.id})


def _slug(route_key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", route_key.lower()).strip("-")
