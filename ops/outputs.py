"""Where a stack's resources are, and clients that reach them."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@dataclass(frozen=True)
class Stack:
    outputs: dict

    @classmethod
    def from_file(cls, path: Path) -> "Stack":
        if not path.exists():
            raise SystemExit(f"{path} does not exist: start the local stack with `make dev`, or pass --stack NAME")
        return cls(json.loads(path.read_text()))

    @classmethod
    def from_pulumi(cls, name: str) -> "Stack":
        try:
            out = subprocess.run(["pulumi", "stack", "output", "--json", "--stack", name],
                                 check=True, capture_output=True, text=True).stdout
        except FileNotFoundError:
            raise SystemExit("the pulumi CLI is not on PATH") from None
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"pulumi stack output failed: {exc.stderr.strip()}") from None
        return cls(json.loads(out))

    def __getitem__(self, key: str):
        return self.outputs[key]

    def _where(self, service: str = "") -> dict:
        # The local stack's outputs name the emulator, S3's front and the emulator's fixed
        # credentials; a deployed stack's name none of them.
        endpoint = self.outputs.get("awsEndpointUrlS3") if service == "s3" else None
        credentials = self.outputs.get("emulatorCredentials", {})
        return {"region_name": self.outputs["region"], "endpoint_url": endpoint or self.outputs.get("awsEndpointUrl"),
                "aws_access_key_id": credentials.get("AWS_ACCESS_KEY_ID"),
                "aws_secret_access_key": credentials.get("AWS_SECRET_ACCESS_KEY"), "config": _CONFIG}

    def client(self, service: str):
        return boto3.client(service, **self._where(service))

    def table(self):
        return boto3.resource("dynamodb", **self._where()).Table(self.outputs["tableName"])
