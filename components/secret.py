"""A secret that exists only in AWS and in the stack's encrypted state: generated
at deploy time, stored as an SSM SecureString, and read by a function at run time
through a grant on exactly this parameter (`ReadCursorSecret` and
`DecryptCursorSecret` in contract/permissions.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

# Alphanumeric, so the value needs no escaping anywhere; 64 such characters
# carry about 380 bits, more than an HMAC-SHA256 key can use.
LENGTH = 64


@dataclass
class GeneratedSecretArgs:
    parameter_name: str
    description: str
    # A customer-managed key; without one SSM uses its AWS-managed `aws/ssm` key,
    # whose use needs no grant of our own.
    kms_key_arn: str | None


class GeneratedSecret(pulumi.ComponentResource):
    value: random.RandomPassword
    parameter: aws.ssm.Parameter

    def __init__(self, name: str, args: GeneratedSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:secret:GeneratedSecret", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.value = random.RandomPassword(f"{name}-value", length=LENGTH, special=False, opts=child)
        self.parameter = aws.ssm.Parameter(
            f"{name}-parameter",
            name=args.parameter_name,
            description=args.description,
            type="SecureString",
            value=self.value.result,
            key_id=args.kms_key_arn,
            opts=child,
        )
        self.register_outputs({"parameterName": self.parameter.name, "parameterArn": self.parameter.arn})
