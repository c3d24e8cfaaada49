"""Print an access token for the local stack's demo user (for curl and schemathesis).

Reads `.local/stack.json`, signs in with USER_PASSWORD_AUTH against the emulator.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import boto3

from local import cognito


def demo_token(stack_file: Path) -> str:
    outputs = json.loads(stack_file.read_text())
    client = boto3.client(
        "cognito-idp",
        endpoint_url=outputs["awsEndpointUrl"],
        region_name=outputs["region"],
        # InitiateAuth needs no credentials; these are the stack file's own.
        aws_access_key_id=outputs["emulatorCredentials"]["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=outputs["emulatorCredentials"]["AWS_SECRET_ACCESS_KEY"],
    )
    return cognito.sign_in(client, outputs["userPoolClientId"], outputs["demoUser"])["AccessToken"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.token", description=__doc__)
    parser.add_argument("--stack-file", type=Path, default=Path(".local/stack.json"))
    print(demo_token(parser.parse_args().stack_file))


if __name__ == "__main__":
    main()
