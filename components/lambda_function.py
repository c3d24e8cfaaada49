"""The one way this project builds a Lambda function: Graviton, Python 3.13,
its own log group with retention, X-Ray, Powertools settings and a role that
grants exactly what contract/permissions.py defines for the function."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.packaging import LambdaPackage
from contract import permissions
from contract.functions import FunctionSpec
from contract.names import Names

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"


@dataclass
class PythonFunctionArgs:
    names: Names
    # Handler, timeout, memory and the variables it reads: the same spec the local runtime runs.
    spec: FunctionSpec
    package: LambdaPackage
    log_retention_days: int
    # The resources the role's statements name (contract/permissions.py's
    # symbols); the function's own log group is added here.
    resources: Mapping[str, pulumi.Input[str] | None]
    # Values for the spec's variables (and possibly other functions').
    variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # The role's statements, when they depend on the stack (the webhook
    # endpoints' secrets); otherwise the contract's for the spec's service.
    statements: Sequence[Mapping[str, Any]] | None = None


class PythonFunction(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role
    # Event source mappings depend on it: AWS checks the role when they are created.
    role_policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: PythonFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:lambda_function:PythonFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = args.spec
        function_name = spec.function_name(args.names)
        # Created before the function so Lambda never auto-creates one without retention.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=function_name,
            assume_role_policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }],
            }),
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=iam.policy(args.statements or permissions.ROLES[spec.service],
                              {**args.resources, permissions.LOG_GROUP: self.log_group.arn}),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=spec.handler,
            code=pulumi.FileArchive(str(args.package.path)),
            source_code_hash=args.package.sha256_b64,
            role=self.role.arn,
            timeout=spec.timeout_s,
            memory_size=spec.memory_mb,
            reserved_concurrent_executions=spec.reserved_concurrency,
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "JSON", "log_group": self.log_group.name},
            environment={"variables": spec.environment(args.variables)},
            # The policy must exist before the first invocation can log.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
        )
        self.register_outputs({"functionArn": self.function.arn, "roleArn": self.role.arn})
