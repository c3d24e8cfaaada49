"""The HTTP API behind API Gateway (payload format 2.0, JWT authorizer in front).

Routes are thin: they validate the request against its operation in the
OpenAPI document (`workers.api.validation`), take the caller from the
authorizer's claims, and call the plain functions in `workers.api.files`.
Every error leaves as `{"error": {"code", "message"}}`: the API's own refusals
(`workers.api.errors`) and the library's alike. The document describes these
routes in `apidoc.openapi`, with the models of `apidoc.models`; neither is in
the Lambda package, as no request needs pydantic (docs/cold-start.md).
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

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
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
from workers.api import files, quota, ratelimit, validation
from workers.api.errors import ApiError, invalid_request, not_found
from workers.api.limits import UPLOAD_URL_EXPIRY_S
from workers.storage import clients

logger = Logger(service=API_SERVICE)
tracer = Tracer(service=API_SERVICE, patch_modules=clients.TRACED_MODULES)
app = APIGatewayHttpResolver()

# The secret changes rarely; a few minutes of caching keeps SSM off the hot path.
_SECRET_MAX_AGE_S = 300


def _caller() -> str:
    sub = app.current_event.request_context.authorizer.jwt_claim.get("sub")
    if not sub:
        # Only reachable without the gateway's authorizer in front, e.g. a misrouted invoke.
        raise ApiError(401, "unauthorized", "No authenticated caller")
    return sub


def _cursor_secret() -> bytes:
    # Only a listing that pages needs the secret: the first such request loads
    # Powertools' parameters utility (~2 ms) rather than every cold start.
    from aws_lambda_powertools.utilities import parameters

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


def _route(method: str, path: str, operation_id: str, status_code: int = 200):
    """Registers a route whose function takes the request once it passed its
    operation's checks (`validation.Valid`: the body, and the parameters by name)."""
    def register(func):
        @functools.wraps(func)
        def checked(**path_parameters: str):
            return func(validation.check(operation_id, app.current_event, path_parameters))

        app.route(path, method, operation_id=operation_id, status_code=status_code)(checked)
        return func

    return register


@_route("POST", "/uploads", "createUpload", status_code=201)
def create_upload(request: validation.Valid) -> dict:
    owner = _caller()
    ratelimit.admit_ticket(owner)
    idempotency_key = request.parameters[IDEMPOTENCY_KEY_HEADER.lower()]
    if idempotency_key is None:
        return _issue(owner, request.body)
    attempt = {"owner": owner, "key": idempotency_key, "request": request.body}
    return _idempotent_create_ticket()(attempt=attempt)


@_route("POST", "/uploads/<fileId>/parts", "presignParts")
def presign_parts(request: validation.Valid) -> dict:
    owner = _caller()
    ratelimit.admit_part_urls(owner)
    parts = request.body["parts"]
    checksums = {part["partNumber"]: part["sha256"] for part in parts}
    if len(checksums) != len(parts):
        raise invalid_request("parts: each partNumber may appear once")
    return {"parts": files.presign_parts(owner, request.parameters["fileId"], checksums)}


@_route("GET", "/uploads/<fileId>/parts", "listParts")
def list_parts(request: validation.Valid) -> dict:
    return {"parts": files.list_parts(_caller(), request.parameters["fileId"])}


@_route("POST", "/uploads/<fileId>/complete", "completeUpload")
def complete_upload(request: validation.Valid) -> dict:
    parts = [(part["partNumber"], part["etag"], part["sha256"]) for part in request.body["parts"]]
    return files.complete_upload(_caller(), request.parameters["fileId"], parts)


@_route("DELETE", "/uploads/<fileId>", "abortUpload")
def abort_upload(request: validation.Valid) -> Response[None]:
    files.abort_upload(_caller(), request.parameters["fileId"])
    return Response(status_code=204)


@_route("GET", "/files", "listFiles")
def list_files(request: validation.Valid) -> dict:
    return files.list_files(_caller(), request.parameters["limit"], request.parameters["cursor"], _cursor_secret)


@_route("GET", "/files/<fileId>", "getFile")
def get_file(request: validation.Valid) -> dict:
    return files.get_file(_caller(), request.parameters["fileId"])


@_route("POST", "/files/<fileId>/download", "downloadFile")
def download(request: validation.Valid) -> dict:
    return files.download(_caller(), request.parameters["fileId"])


@_route("DELETE", "/files/<fileId>", "deleteFile")
def delete_file(request: validation.Valid) -> Response[None]:
    files.delete_file(_caller(), request.parameters["fileId"])
    return Response(status_code=204)


@_route("GET", "/usage", "getUsage")
def get_usage(request: validation.Valid) -> dict:
    return quota.usage_of(_caller())


# --- Errors ---------------------------------------------------------------------


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


@app.exception_handler(ApiError)
def _render(error: ApiError) -> Response:
    return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON,
                    body=error_body(error.code, error.message), headers=error.headers)


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
