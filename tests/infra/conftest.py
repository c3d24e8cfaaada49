"""Shared fixtures: the Lambda package (built once, cached under build/) and
the real program run under mocks for the shared dev stack and for one
ephemeral developer stack."""

from __future__ import annotations

import json
import subprocess

import pytest

from components.packaging import LambdaPackage, build_package
from tests.infra.harness import (
    EPHEMERAL_CONFIG,
    EPHEMERAL_STACK,
    ROOT,
    SCANNING,
    WEBHOOK_ENDPOINTS,
    WEBHOOKS,
    dev_config,
    pypi_unreachable,
    run_program,
)


@pytest.fixture(scope="session")
def package() -> LambdaPackage:
    try:
        return build_package(ROOT)
    except subprocess.CalledProcessError:
        reason = pypi_unreachable()
        if reason:
            pytest.skip(reason)
        raise


@pytest.fixture(scope="session")
def stacks(package, tmp_path_factory) -> dict[str, dict]:
    """Both stacks' registered resources and outputs. Needs `package` first so
    the program finds the zip cached instead of racing to build it."""
    runs = {"dev": dev_config(), EPHEMERAL_STACK: EPHEMERAL_CONFIG,
            SCANNING: {**EPHEMERAL_CONFIG, "uploads:malwareScan": "true"},
            WEBHOOKS: {**EPHEMERAL_CONFIG, "uploads:webhooks": json.dumps(WEBHOOK_ENDPOINTS)}}
    results = {}
    for stack, config in runs.items():
        out = tmp_path_factory.mktemp(stack) / "resources.json"
        completed = run_program(EPHEMERAL_STACK if stack in (SCANNING, WEBHOOKS) else stack, config, out)
        assert completed.returncode == 0, completed.stderr
        results[stack] = json.loads(out.read_text())
    return results


@pytest.fixture(params=["dev", EPHEMERAL_STACK])
def stack(request, stacks) -> dict:
    return {"name": request.param, **stacks[request.param]}
