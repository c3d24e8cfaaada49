"""The API's refusals, one shape for all: an HTTP status, a stable `code` that
clients branch on, a `message` a person can read, and the headers the status
calls for. The handler renders every one as `{"error": {"code", "message"}}`."""

from __future__ import annotations

RETRY_AFTER = "Retry-After"


class ApiError(Exception):
    """A failure the client caused or must know about."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def invalid_request(message: str) -> ApiError:
    """The message starts with the field's name, so a client knows what to fix."""
    return ApiError(400, "invalid_request", message)


def quota_exceeded(message: str) -> ApiError:
    return ApiError(403, "quota_exceeded", message)


def not_found(message: str = "No such file") -> ApiError:
    # One answer for missing, deleted and foreign files: existence is not disclosed.
    return ApiError(404, "not_found", message)


def rate_limited(message: str, retry_after_s: int) -> ApiError:
    return ApiError(429, "rate_limited", message, {RETRY_AFTER: str(retry_after_s)})
