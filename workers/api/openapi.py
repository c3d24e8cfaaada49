"""The API's OpenAPI document, generated from the handler's routes and the
models in `workers.api.models`, and committed as docs/openapi.json.

It lives outside the handler because only the document needs OpenAPI's
models, and building them would cost every cold start 0.3 s."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from contract.names import PROJECT
from workers.api.handler import app


def document() -> dict:
    """Powertools documents a 422 with its own body on every route; this API
    answers validation failures with 400 and its own error shape instead, so
    those entries are dropped and only the statuses the routes declare remain."""
    generated = json.loads(
        app.get_openapi_json_schema(
            title=f"{PROJECT} API",
            version="1.0.0",
            description="Upload tickets, listing, download and delete for the caller's own files.",
            security_schemes={"cognito": HTTPBearer(bearerFormat="JWT")},
            security=[{"cognito": []}],
        )
    )
    for path in generated["paths"].values():
        for operation in path.values():
            if operation["responses"].get("422", {}).get("description") == "Validation Error":
                del operation["responses"]["422"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        generated["components"]["schemas"].pop(name, None)
    return generated
