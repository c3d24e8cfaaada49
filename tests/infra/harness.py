"""Runs the program under mocks in a subprocess and looks things up in what
it recorded (the JSON `mock_program.py` writes)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PYPI = "https://pypi.org/simple/pip/"
# A developer's stack: only what `docs/environments.md` tells them to set.
EPHEMERAL_STACK = "dev-alice"
# The key of an ephemeral stack with uploads:malwareScan on, among the `stacks` fixture's.
SCANNING = "scanning"
EPHEMERAL_CONFIG = {"aws:region": "eu-west-1", "uploads:owner": "alice"}
# The key of an ephemeral stack with two webhook endpoints, among the `stacks` fixture's.
WEBHOOKS = "webhooks"
WEBHOOK_ENDPOINTS = [
    {"name": "search-index", "url": "https://hooks.integrator.net/uploads", "secretParameter": "/integrator/hook"},
    {"name": "failures", "url": "https://alerts.integrator.net/in", "secretParameter": "integrator-failures",
     "detailTypes": ["File Failed", "File Infected"]},
]
# The shared stack's on-call address is the team's to set and commit
# (docs/environments.md); until they do, the tests stand this one in.
DEV_ON_CALL = "uploads-oncall@platform-team.net"


def stack_config(path: Path) -> dict[str, str]:
    """Config as the Pulumi CLI hands it to a program: strings, objects as JSON."""
    raw = yaml.safe_load(path.read_text())["config"]
    return {
        key: json.dumps(value) if isinstance(value, (list, dict))
        else str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in raw.items()
    }


def dev_config() -> dict[str, str]:
    """The shared stack's committed config, with a stand-in on-call address
    while it commits none: the program refuses to run it without one."""
    stand_in = json.dumps([{"protocol": "email", "endpoint": DEV_ON_CALL}])
    return {"uploads:alarmSubscriptions": stand_in, **stack_config(ROOT / "Pulumi.dev.yaml")}


def run_program(stack: str, config: dict[str, str], out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "tests/infra/mock_program.py"), stack, json.dumps(config), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def pypi_unreachable() -> str | None:
    try:
        urllib.request.urlopen(PYPI, timeout=10).close()
    except OSError as error:
        return f"PyPI ({PYPI}) is unreachable, so the arm64 Lambda package cannot be built: {error}"
    return None


def of_type(stack: dict, token: str) -> list[dict]:
    return [resource for resource in stack["resources"] if resource["type"] == token]


def one(stack: dict, token: str, **inputs) -> dict:
    matches = [r for r in of_type(stack, token) if all(r["inputs"].get(k) == v for k, v in inputs.items())]
    assert len(matches) == 1, f"expected one {token} with {inputs}, found {len(matches)}"
    return matches[0]


def attached(stack: dict, token: str, target: dict, prop: str = "bucket") -> dict:
    """The one `token` resource whose `prop` was computed from `target`."""
    matches = [r for r in of_type(stack, token) if target["urn"] in r["propertyDependencies"].get(prop, [])]
    assert len(matches) == 1, f"expected one {token} attached to {target['name']}, found {len(matches)}"
    return matches[0]


def document(resource: dict, prop: str = "policy") -> dict:
    return json.loads(resource["inputs"][prop])
