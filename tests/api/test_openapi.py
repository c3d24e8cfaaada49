import json
from pathlib import Path

from apidoc import openapi
from contract.http import API_ROUTES
from workers.api import validation
from workers.api.handler import app

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_openapi_document_is_current():
    assert json.loads(COMMITTED.read_text()) == openapi.document(), (
        "docs/openapi.json is stale: run `python -m apidoc --openapi > docs/openapi.json`"
    )


def test_the_api_implements_exactly_the_settings_routes():
    document = openapi.document()
    routes = {f"{method.upper()} {path}" for path, operations in document["paths"].items() for method in operations}
    assert routes == set(API_ROUTES)
    assert len(app._static_routes) + len(app._dynamic_routes) == len(API_ROUTES)


def test_committed_request_schemas_are_the_documents():
    assert json.loads(validation.SCHEMAS_PATH.read_text()) == openapi.request_schemas(), (
        "workers/api/request_schemas.json is stale: "
        "run `python -m apidoc --request-schemas > workers/api/request_schemas.json`"
    )


def test_every_route_of_the_handler_is_described_once():
    routes = [*app._static_routes, *app._dynamic_routes]
    assert sorted(route.operation_id for route in routes) == sorted(openapi.OPERATIONS)
