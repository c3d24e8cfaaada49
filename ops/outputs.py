"""Where a stack's resources are, and clients that reach them."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from contract.outputs import DeployedOutputs, LocalOutputs, StackOutputs

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@dataclass(frozen=True)
class Stack:
    outputs: StackOutputs
    # The local stack's outputs: where its AWS and S3 fronts are, and the
    # credentials it gives the on-call operator, which on-call's shell does not
    # have. None for a deployed stack, whose clients use the caller's own
    # credentials (a role with docs/runbooks.md's on-call policy).
    local: LocalOutputs | None = None
    # The on-call topic; a deployed stack's only.
    alarm_topic_arn: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> Stack:
        local = LocalOutputs.from_dict(data) if LocalOutputs.key("aws_endpoint_url") in data else None
        return cls(StackOutputs.from_dict(data), local, data.get(DeployedOutputs.key("alarm_topic_arn")))

    @classmethod
    def from_file(cls, path: Path) -> Stack:
        if not path.exists():
            raise SystemExit(f"{path} does not exist: start the local stack with `make dev`, or pass --stack NAME")
        return cls.from_json(json.loads(path.read_text()))

    @classmethod
    def from_pulumi(cls, name: str) -> Stack:
        try:
            out = subprocess.run(["pulumi", "stack", "output", "--json", "--stack", name],
                                 check=True, capture_output=True, text=True).stdout
        except FileNotFoundError:
            raise SystemExit("the pulumi CLI is not on PATH") from None
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"pulumi stack output failed: {exc.stderr.strip()}") from None
        return cls.from_json(json.loads(out))

    def _where(self, service: str = "") -> dict:
        if self.local is None:
            return {"region_name": self.outputs.region, "config": _CONFIG}
        credentials = self.local.emulator_credentials
        endpoint = self.local.aws_endpoint_url_s3 if service == "s3" else self.local.aws_endpoint_url
        return {"region_name": self.outputs.region, "endpoint_url": endpoint, "config": _CONFIG,
                "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"]}

    def client(self, service: str, **overrides):
        return boto3.client(service, **{**self._where(service), **overrides})

    def table(self):
        return boto3.resource("dynamodb", **self._where()).Table(self.outputs.table_name)
