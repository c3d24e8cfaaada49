"""The API's OpenAPI document, committed as docs/openapi.json, and the request
schemas the handler checks requests against (workers/api/request_schemas.json).

The handler's routes say where each operation is; this module says what it
takes and answers, as Powertools reads it from a typed signature: the models
of `apidoc.models` and the parameters' constraints. It lives outside the
handler because only the document needs pydantic and Powertools' OpenAPI
machinery, and loading them would cost every cold start about 100 ms
(docs/cold-start.md)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from apidoc.models import (
    CompleteRequest,
    CompleteResponse,
    CreateUpload,
    Download,
    ErrorBody,
    File,
    FileList,
    PartsRequest,
    PartsResponse,
    Ticket,
    Unauthorized,
    UploadedParts,
    Usage,
)
from contract.http import IDEMPOTENCY_KEY_HEADER
from contract.names import PROJECT
from workers.api.errors import RETRY_AFTER
from workers.api.handler import app
from workers.api.limits import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, MAX_IDEMPOTENCY_KEY_LENGTH

FileId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The id the server gave the file")]
_ERRORS = {
    400: "The request is invalid; the message names the field",
    401: "No valid token",
    403: "Over the caller's quota (the message says how much is used and allowed), or a file its malware scan "
         "did not release (`infected`, `unscannable`, `scan_failed`; the message says what to do)",
    404: "No such file (or it belongs to someone else)",
    409: "The file is not in a state that allows this (`scan_pending`: its malware scan has not finished)",
    413: "The declared size is over the limit",
    415: "The body is not JSON",
    422: "The Idempotency-Key was used before with a different request",
    429: "Too many such requests from the caller this minute; retry after `Retry-After` seconds",
}
# Where a new file's id can be used next; clients and stateful fuzzers follow these.
_FILE_LINKS = {
    operation: {"operationId": operation, "parameters": {"fileId": "$response.body#/fileId"}}
    for operation in ("getFile", "downloadFile", "deleteFile", "presignParts", "listParts", "completeUpload",
                      "abortUpload")
}


def _responses(ok: int, description: str, *errors: int, body: bool = True, links: dict | None = None) -> dict:
    documented = {ok: {"description": description} if body else {"description": description, "content": {}}}
    if links:
        documented[ok]["links"] = links
    documented[401] = {"description": _ERRORS[401], "content": {"application/json": {"model": Unauthorized}}}
    for status in errors:
        documented[status] = {"description": _ERRORS[status], "content": {"application/json": {"model": ErrorBody}}}
    if 429 in errors:
        documented[429]["headers"] = {RETRY_AFTER: {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    return documented


# --- What each operation takes and answers, by its operation id ------------------


def create_upload(
    request: CreateUpload,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY_HEADER.lower(),
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
            description="Retrying with the same key returns the same ticket instead of creating a second file",
        ),
    ] = None,
) -> Ticket: ...


def presign_parts(fileId: FileId, request: PartsRequest) -> PartsResponse: ...


def list_parts(fileId: FileId) -> UploadedParts: ...


def complete_upload(fileId: FileId, request: CompleteRequest) -> CompleteResponse: ...


def abort_upload(fileId: FileId) -> Response[None]: ...


def list_files(
    limit: Annotated[int, Query(ge=1, le=LIST_MAX_LIMIT)] = LIST_DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length=1024,
              description="nextCursor of the previous page, as given"),
    ] = None,
) -> FileList: ...


def get_file(fileId: FileId) -> File: ...


def download(fileId: FileId) -> Download: ...


def delete_file(fileId: FileId) -> Response[None]: ...


def get_usage() -> Usage: ...


OPERATIONS = {
    "createUpload": (create_upload, _responses(201, "The upload ticket", 400, 403, 413, 415, 409, 422, 429,
                                               links=_FILE_LINKS)),
    "presignParts": (presign_parts, _responses(200, "Presigned part URLs", 400, 404, 409, 415, 429)),
    "listParts": (list_parts, _responses(200, "The parts S3 already holds", 400, 404, 409)),
    "completeUpload": (complete_upload, _responses(200, "The upload is assembled", 400, 404, 409, 413, 415)),
    "abortUpload": (abort_upload, _responses(204, "Aborted", 400, 404, 409, body=False)),
    "listFiles": (list_files, _responses(200, "The caller's files, newest first", 400)),
    "getFile": (get_file, _responses(200, "The file", 400, 404)),
    "downloadFile": (download, _responses(200, "A short-lived download URL", 400, 403, 404, 409)),
    "deleteFile": (delete_file, _responses(204, "Deleted (also when it already was)", 400, 404, body=False)),
    "getUsage": (get_usage, _responses(200, "What the caller holds and may hold")),
}


def described() -> APIGatewayHttpResolver:
    """The handler's routes, each with what its operation takes and answers."""
    resolver = APIGatewayHttpResolver(enable_validation=True)
    for route in (*app._static_routes, *app._dynamic_routes):
        signature, responses = OPERATIONS[route.operation_id]
        resolver.route(route.path, route.method, operation_id=route.operation_id, status_code=route.status_code,
                       responses=responses)(signature)
    return resolver


def document() -> dict:
    """Powertools documents a 422 with its own body on every route; this API
    answers validation failures with 400 and its own error shape instead, so
    those entries are dropped and only the statuses the routes declare remain."""
    generated = json.loads(
        described().get_openapi_json_schema(
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


def request_schemas() -> dict:
    """Each operation's JSON body and parameters as the document gives them,
    references resolved and prose left out: what `workers.api.validation` checks."""
    generated = document()

    def resolved(schema: Any) -> Any:
        if isinstance(schema, list):
            return [resolved(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            return resolved(generated["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
        return {key: resolved(value) for key, value in schema.items() if key not in ("title", "description")}

    schemas = {}
    for operations in generated["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            schemas[operation["operationId"]] = {
                "body": resolved(body) if body else None,
                "parameters": [{"name": parameter["name"], "in": parameter["in"],
                                "required": parameter.get("required", False), "schema": resolved(parameter["schema"])}
                               for parameter in operation.get("parameters", [])],
            }
    return dict(sorted(schemas.items()))
