"""How failures are classified, in one place.

A `FileRejected` is permanent for the object: the file gets status `failed` with
its code and message, and the message is acknowledged. Everything else that
escapes a record handler is treated as transient: the record is reported failed,
SQS redelivers it, and after `max_receive_count` tries it rests in the DLQ as
evidence.
"""

from __future__ import annotations

from botocore.exceptions import ClientError


class FileRejected(Exception):
    """The file itself is the problem; retrying cannot help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self):
        # Crosses the pipe from the extraction child (workers/extraction/isolation.py).
        return type(self), (self.code, self.message)


class OutOfTime(Exception):
    """The invocation, not the file, ran out of time: the record is retried in a
    later batch instead of being failed for something that is not its fault."""


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def is_not_found(exc: ClientError) -> bool:
    return error_code(exc) in {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}


def is_condition_failed(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"
