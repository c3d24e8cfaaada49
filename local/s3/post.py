"""A browser POST upload: its form, and the policy it was signed with
(https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTForms.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html).

S3 requires the file to be the form's last field and reads nothing after it
(https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html). moto
reads the whole form, keeping the first of repeated fields and the last file,
so a form that repeats `key` or carries a second file would be checked here
against one key and stored by moto under another. The front refuses such
forms outright rather than guess: a field given twice (`InvalidArgument`) and
any part after the file (`MalformedPOSTRequest`). No client of ours sends either.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import IO

from local.s3.errors import S3Error, access_denied, entity_too_large, invalid_argument, policy_failed
from local.s3.request import COPY_CHUNK

# S3 caps the fields before the file at 20 KB; the boundaries and part headers
# get some room on top.
MAX_FORM_FIELDS = 20 * 1024
FORM_OVERHEAD = 64 * 1024
# Fields a POST may carry that no policy condition has to name.
_UNCONDITIONED = {"policy", "x-amz-signature", "file"}
_SIGNING_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")


def _malformed() -> S3Error:
    return S3Error(400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.")


@dataclass
class PostForm:
    fields: dict[str, str]  # lower-cased names, as S3 compares them
    filename: str
    file_start: int
    file_end: int

    @property
    def file_size(self) -> int:
        return self.file_end - self.file_start


def parse_form(body: IO[bytes], length: int, content_type: str) -> PostForm:
    """The fields before the file and where the file's bytes are in `body`; only
    the file's end is searched for, by chunks."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise _malformed()
    delimiter = b"--" + match.group(1).encode("latin-1")
    body.seek(0)
    head = body.read(min(length, MAX_FORM_FIELDS + FORM_OVERHEAD))
    fields: dict[str, str] = {}
    position = head.find(delimiter)
    while position >= 0:
        part_start = position + len(delimiter)
        if head[part_start:part_start + 2] == b"--":
            break
        headers_end = head.find(b"\r\n\r\n", part_start)
        if headers_end < 0:
            break
        disposition = _part_disposition(head[part_start:headers_end].decode("utf-8", "replace"))
        name = disposition.get("name", "").lower()
        content_start = headers_end + 4
        if name == "file":
            end = _find(body, b"\r\n" + delimiter, content_start, length)
            if end < 0:
                break
            after = end + 2 + len(delimiter)
            body.seek(after)
            if body.read(2) != b"--":
                raise _malformed()
            return PostForm(fields, disposition.get("filename", ""), content_start, end)
        next_delimiter = head.find(b"\r\n" + delimiter, content_start)
        if next_delimiter < 0:
            raise S3Error(400, "MaxPostPreDataLengthExceeded",
                          "Your POST request fields preceeding the upload file was too large.")
        if name in fields:
            raise invalid_argument(f"The form field '{name}' may appear only once.", name)
        fields[name] = head[content_start:next_delimiter].decode("utf-8", "replace")
        position = next_delimiter + 2
    raise invalid_argument("POST requires exactly one file upload per request.", "file", "0")


def check_fields(form: PostForm) -> None:
    """The fields S3 needs before it can check a SigV4 POST's signature."""
    fields = form.fields
    if "key" not in fields:
        raise invalid_argument("Bucket POST must contain a field named 'key'.  "
                               "If it is specified, please check the order of the fields.", "key")
    if "policy" not in fields:
        # An anonymous POST: the bucket is private.
        raise access_denied()
    for required in _SIGNING_FIELDS:
        if required not in fields:
            raise invalid_argument(f"Bucket POST must contain a field named '{required}'.", required)
    if fields["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
        raise S3Error(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 is accepted for a POST.")


def _part_disposition(headers: str) -> dict[str, str]:
    message = Message()
    for line in headers.split("\r\n"):
        if ":" in line:
            name, value = line.split(":", 1)
            message[name.strip()] = value.strip()
    params = message.get_params(header="content-disposition") or []
    return {name.lower(): value for name, value in params[1:]}


def _find(body: IO[bytes], needle: bytes, start: int, end: int) -> int:
    """Where `needle` first occurs in body[start:end], reading a chunk at a time."""
    overlap = len(needle) - 1
    offset = start
    while offset < end:
        body.seek(offset)
        chunk = body.read(min(COPY_CHUNK + overlap, end - offset))
        found = chunk.find(needle)
        if found >= 0:
            return offset + found
        if len(chunk) <= overlap:
            return -1
        offset += len(chunk) - overlap
    return -1


def check_policy(form: PostForm, bucket: str, now: datetime) -> None:
    """The policy's expiration and conditions."""
    fields = form.fields
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
        expiration = datetime.fromisoformat(policy["expiration"])
        conditions = policy["conditions"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    if now > expiration:
        raise policy_failed("Policy expired.")
    values = {**fields, "bucket": bucket, "key": fields["key"].replace("${filename}", form.filename)}
    named: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, expected),) = condition.items()
            condition = ["eq", f"${name}", expected]
        if not isinstance(condition, list) or len(condition) != 3:
            raise S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition: {json.dumps(condition)}")
        operator = str(condition[0]).lower()
        if operator == "content-length-range":
            _check_length(form.file_size, condition)
            continue
        name = str(condition[1]).lower().removeprefix("$")
        named.add(name)
        actual, expected = values.get(name), str(condition[2])
        if operator == "eq":
            matched = actual == expected
        elif operator == "starts-with":
            matched = actual is not None and actual.startswith(expected)
        else:
            raise S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition: {json.dumps(condition)}")
        if not matched:
            raise policy_failed(f"Policy Condition failed: {json.dumps(condition)}")
    extra = sorted(name for name in fields
                   if name not in named and name not in _UNCONDITIONED and not name.startswith("x-ignore-"))
    if extra:
        raise policy_failed(f"Extra input fields: {', '.join(extra)}")


def _check_length(size: int, condition: list) -> None:
    try:
        low, high = int(condition[1]), int(condition[2])
    except (TypeError, ValueError):
        raise S3Error(400, "InvalidPolicyDocument",
                      f"Invalid Policy: Invalid content-length-range: {json.dumps(condition)}") from None
    if size > high:
        raise entity_too_large(size, high)
    if size < low:
        raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                      (("ProposedSize", str(size)), ("MinSizeAllowed", str(low))))
