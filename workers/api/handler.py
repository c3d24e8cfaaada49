"""The HTTP API behind API Gateway (payload format 2.0, JWT authorizer in front).

Routes are thin: they validate the request against the models in
`workers.api.models`, take the caller from the authorizer's claims, and call the
plain functions in `workers.api.files`. Every error leaves as
`{"error": {"code", "message"}}`: the API's own refusals (`workers.api.errors`)
and the library's alike. The OpenAPI document is built from these routes in
`workers.api.openapi`, which this module never imports: no request needs it.
"""

from __future__ import annotations

import gc

# Init makes only what lives as long as the environment, so collecting while
# it runs is wasted work (about a fifth of the import); the end of this module
# freezes what init made and turns collection back on.
gc.disable()

import functools
import json
import os
from typing import Annotated

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from contract.functions import ENV_CURSOR_SECRET_PARAMETER, ENV_TABLE_NAME
from contract.http import IDEMPOTENCY_KEY_HEADER
from contract.metrics import API_SERVICE
from contract.table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from workers.api import files, quota, ratelimit
from workers.api.errors import RETRY_AFTER, ApiError, invalid_request, not_found
from workers.api.limits import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, MAX_IDEMPOTENCY_KEY_LENGTH, UPLOAD_URL_EXPIRY_S
from workers.api.models import (
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
from workers.storage import clients

logger = Logger(service=API_SERVICE)
tracer = Tracer(service=API_SERVICE, patch_modules=clients.TRACED_MODULES)
app = APIGatewayHttpResolver(enable_validation=True)

FileId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The id the server gave the file")]
# The secret changes rarely; a few minutes of caching keeps SSM off the hot path.
_SECRET_MAX_AGE_S = 300
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


def _caller() -> str:
    sub = app.current_event.request_context.authorizer.jwt_claim.get("sub")
    if not sub:
        # Only reachable without the gateway's authorizer in front, e.g. a misrouted invoke.
        raise ApiError(401, "unauthorized", "No authenticated caller")
    return sub


def _cursor_secret() -> bytes:
    return parameters.get_parameter(
        os.environ[ENV_CURSOR_SECRET_PARAMETER], decrypt=True, max_age=_SECRET_MAX_AGE_S
    ).encode()


# --- Idempotent ticket creation -------------------------------------------------
# The key is scoped to the caller, and the body is checked on replay: the same key
# with a different request is refused instead of answered with the wrong ticket.
_IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[owner, key]",
    payload_validation_jmespath="request",
    # A ticket is useless once its URLs expire, so there is nothing to replay after.
    expires_after_seconds=UPLOAD_URL_EXPIRY_S,
)


@functools.cache
def _idempotent_create_ticket():
    persistence = DynamoDBPersistenceLayer(
        table_name=os.environ[ENV_TABLE_NAME],
        key_attr=PARTITION_KEY,
        sort_key_attr=SORT_KEY,
        # The table's TTL attribute, so DynamoDB reaps expired idempotency records.
        expiry_attr=TTL_ATTRIBUTE,
        boto3_client=clients.dynamodb(),
    )

    @idempotent_function(data_keyword_argument="attempt", persistence_store=persistence, config=_IDEMPOTENCY)
    def create(attempt: dict) -> dict:
        return _issue(attempt["owner"], attempt["request"])

    return create


def _issue(owner: str, request: dict) -> dict:
    return files.create_ticket(owner, request["filename"], request["contentType"], request["size"],
                               request.get("sha256"))


# --- Routes ---------------------------------------------------------------------


@app.post("/uploads", operation_id="createUpload", status_code=201,
          responses=_responses(201, "The upload ticket", 400, 403, 413, 415, 409, 422, 429, links=_FILE_LINKS))
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
) -> Ticket:
    owner = _caller()
    ratelimit.admit_ticket(owner)
    if idempotency_key is None:
        return Ticket.model_validate(_issue(owner, request.model_dump()))
    attempt = {"owner": owner, "key": idempotency_key, "request": request.model_dump()}
    return Ticket.model_validate(_idempotent_create_ticket()(attempt=attempt))


@app.post("/uploads/<fileId>/parts", operation_id="presignParts",
          responses=_responses(200, "Presigned part URLs", 400, 404, 409, 415, 429))
def presign_parts(fileId: FileId, request: PartsRequest) -> PartsResponse:
    owner = _caller()
    ratelimit.admit_part_urls(owner)
    checksums = {part.partNumber: part.sha256 for part in request.parts}
    if len(checksums) != len(request.parts):
        raise invalid_request("parts: each partNumber may appear once")
    return PartsResponse(parts=files.presign_parts(owner, fileId, checksums))


@app.get("/uploads/<fileId>/parts", operation_id="listParts",
         responses=_responses(200, "The parts S3 already holds", 400, 404, 409))
def list_parts(fileId: FileId) -> UploadedParts:
    return UploadedParts.model_validate({"parts": files.list_parts(_caller(), fileId)})


@app.post("/uploads/<fileId>/complete", operation_id="completeUpload",
          responses=_responses(200, "The upload is assembled", 400, 404, 409, 413, 415))
def complete_upload(fileId: FileId, request: CompleteRequest) -> CompleteResponse:
    parts = [(part.partNumber, part.etag, part.sha256) for part in request.parts]
    return CompleteResponse.model_validate(files.complete_upload(_caller(), fileId, parts))


@app.delete("/uploads/<fileId>", operation_id="abortUpload",
            responses=_responses(204, "Aborted", 400, 404, 409, body=False))
def abort_upload(fileId: FileId) -> Response[None]:
    files.abort_upload(_caller(), fileId)
    return Response(status_code=204)


@app.get("/files", operation_id="listFiles", responses=_responses(200, "The caller's files, newest first", 400))
def list_files(
    limit: Annotated[int, Query(ge=1, le=LIST_MAX_LIMIT)] = LIST_DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length=1024,
              description="nextCursor of the previous page, as given"),
    ] = None,
) -> FileList:
    return FileList.model_validate(files.list_files(_caller(), limit, cursor, _cursor_secret))


@app.get("/files/<fileId>", operation_id="getFile", responses=_responses(200, "The file", 400, 404))
def get_file(fileId: FileId) -> File:
    return File.model_validate(files.get_file(_caller(), fileId))


@app.post("/files/<fileId>/download", operation_id="downloadFile",
          responses=_responses(200, "A short-lived download URL", 400, 403, 404, 409))
def download(fileId: FileId) -> Download:
    return Download.model_validate(files.download(_caller(), fileId))


@app.delete("/files/<fileId>", operation_id="deleteFile",
            responses=_responses(204, "Deleted (also when it already was)", 400, 404, body=False))
def delete_file(fileId: FileId) -> Response[None]:
    files.delete_file(_caller(), fileId)
    return Response(status_code=204)


@app.get("/usage", operation_id="getUsage", responses=_responses(200, "What the caller holds and may hold"))
def get_usage() -> Usage:
    return Usage.model_validate(quota.usage_of(_caller()))


# --- Errors ---------------------------------------------------------------------


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


@app.exception_handler(ApiError)
def _render(error: ApiError) -> Response:
    return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON,
                    body=error_body(error.code, error.message), headers=error.headers)


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response:
    first = exc.errors()[0]
    # loc is ("body", "size", ...), ("query", "limit"), ("path", "fileId")...;
    # the part after the source names the field for the client.
    field = ".".join(str(part) for part in first["loc"][1:] if not isinstance(part, int)) or first["loc"][0]
    return _render(invalid_request(f"{field}: {first.get('msg', 'is invalid')}"))


@app.exception_handler(UnicodeDecodeError)
def _undecodable_body(exc: UnicodeDecodeError) -> Response:
    # API Gateway passes a body that is not UTF-8 as base64; JSON cannot be in it.
    return _render(invalid_request("body: is not UTF-8 JSON"))


@app.exception_handler(RecursionError)
def _too_deeply_nested(exc: RecursionError) -> Response:
    # Python's JSON parser recurses per level; a body of a few hundred KB of
    # brackets exhausts the stack before validation sees it.
    return _render(invalid_request("body: is nested too deeply"))


@app.exception_handler(IdempotencyValidationError)
def _idempotency_key_reused(exc: IdempotencyValidationError) -> Response:
    return _render(ApiError(422, "idempotency_key_reused", "Idempotency-Key: it was used with a different request"))


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _idempotency_in_progress(exc: IdempotencyAlreadyInProgressError) -> Response:
    return _render(ApiError(409, "idempotency_in_progress", "Idempotency-Key: the first request is still running"))


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    # Still an error body the client can parse; the details stay in the log
    # (and the API's 5xx alarm counts it).
    logger.exception("Unhandled error")
    return _render(ApiError(500, "internal_error", "Something went wrong on our side; try again later"))


@app.not_found
def _no_route(exc: NotFoundError) -> Response:
    return _render(not_found("No such route"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
# Powertools would keep each response in the trace, and responses carry
# presigned URLs: working credentials for the caller's files, readable there by
# anyone allowed to read traces.
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context) -> dict:
    _IDEMPOTENCY.register_lambda_context(context)
    if not _is_json_or_empty(event):
        # Refused before Powertools would try to parse a form or multipart body.
        return {
            "statusCode": 415,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": error_body("unsupported_media_type", "body: send application/json"),
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)


def _is_json_or_empty(event: dict) -> bool:
    if not event.get("body"):
        return True
    content_type = (event.get("headers") or {}).get("content-type", content_types.APPLICATION_JSON)
    return content_type.split(";", 1)[0].strip().lower() == content_types.APPLICATION_JSON


# Init's objects move to the permanent generation: later collections skip them.
gc.freeze()
gc.enable()
