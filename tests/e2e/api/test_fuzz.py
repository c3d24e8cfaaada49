"""schemathesis drives docs/openapi.json against the gateway as the demo user.

`make test` runs a small profile; `make fuzz` sets API_FUZZ_EXAMPLES higher.
Three checks are left out, each because it tests a rule this API does not follow
on purpose:
- positive_data_acceptance: a schema-valid cursor can still be forged, and is 400;
- unsupported_method: API Gateway answers unrouted methods 404, not 405;
- ensure_resource_availability: its stateful runs delete or abort a file and then
  expect a later call on it to succeed; a deleted file is 404 by contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

SPEC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
EXCLUDED_CHECKS = "positive_data_acceptance,unsupported_method,ensure_resource_availability"


def test_schemathesis_finds_no_server_error_or_schema_violation(stack, tokens):
    examples = os.environ.get("API_FUZZ_EXAMPLES", "20")
    schemathesis = Path(sys.executable).with_name("schemathesis")
    started = time.monotonic()
    result = subprocess.run(
        [
            str(schemathesis), "run", str(SPEC),
            "--url", stack.outputs["apiUrl"],
            "--header", f"Authorization: Bearer {tokens['AccessToken']}",
            "--checks", "all",
            "--exclude-checks", EXCLUDED_CHECKS,
            "--max-examples", examples,
            "--workers", str(stack.api_concurrency),
            "--request-timeout", "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary = result.stdout[result.stdout.rfind("SUMMARY"):]
    print(f"\nschemathesis, {examples} examples per operation, {time.monotonic() - started:.1f}s\n{summary}")
    assert result.returncode == 0, result.stdout[-8000:]
