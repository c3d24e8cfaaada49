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
# The local stack's emulator accepts any credentials, and on-call's shell
# beside `make dev` has none: the CLI brings its own rather than fail.
_LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


@dataclass(frozen=True)
class Stack:
    outputs: StackOutputs
    # Where the local stack's emulator is; None for a deployed stack.
    endpoint_url: str | None = None
    # The on-call topic; a deployed stack's only.
    alarm_topic_arn: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> "Stack":
        return cls(StackOutputs.from_dict(data), data.get(LocalOutputs.key("aws_endpoint_url")),
                   data.get(DeployedOutputs.key("alarm_topic_arn")))

    @classmethod
    def from_file(cls, path: Path) -> "Stack":
        if not path.exists():
            raise SystemExit(f"{path} does not exist: start the local stack with `make dev`, or pass --stack NAME")
        return cls.from_json(json.loads(path.read_text()))

    @classmethod
    def from_pulumi(cls, name: str) -> "Stack":
        try:
            out = subprocess.run(["pulumi", "stack", "output", "--json", "--stack", name],
                                 check=True, capture_output=True, text=True).stdout
        except FileNotFoundError:
            raise SystemExit("the pulumi CLI is not on PATH") from None
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"pulumi stack output failed: {exc.stderr.strip()}") from None
        return cls.from_json(json.loads(out))

    def _where(self) -> dict:
        return {"region_name": self.outputs.region, "endpoint_url": self.endpoint_url, "config": _CONFIG,
                **(_LOCAL_CREDENTIALS if self.endpoint_url else {})}

    def client(self, service: str, **overrides):
        return boto3.client(service, **{**self._where(), **overrides})

    def table(self):
        return boto3.resource("dynamodb", **self._where()).Table(self.outputs.table_name)
