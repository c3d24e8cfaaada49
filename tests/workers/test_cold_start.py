"""What each handler's import loads: pydantic and Powertools' OpenAPI
machinery cost a cold start about 45 ms (ingest) and 100 ms (API), and no
request needs them (docs/cold-start.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contract.functions import ENV_BUCKET_NAME, ENV_CURSOR_SECRET_PARAMETER, ENV_STACK, ENV_TABLE_NAME

HEAVY = ("pydantic", "aws_lambda_powertools.utilities.parser", "aws_lambda_powertools.event_handler.openapi.params",
         "aws_lambda_powertools.event_handler.openapi.models")


@pytest.mark.parametrize("handler", ["workers.ingest.handler", "workers.api.handler"])
def test_a_handler_imports_neither_pydantic_nor_the_openapi_machinery(handler):
    env = {**os.environ, ENV_TABLE_NAME: "t", ENV_BUCKET_NAME: "b", ENV_CURSOR_SECRET_PARAMETER: "p", ENV_STACK: "test"}
    script = f"import sys, {handler}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
