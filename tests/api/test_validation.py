"""The handler's light request checks agree with the pydantic models the
OpenAPI document is generated from: the same bodies pass, a passing body
reads the same, and a failing one names the same field first."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from apidoc.models import CompletedPart, CompleteRequest, CreateUpload, PartChecksum, PartsRequest
from local.gateway import api_event
from workers.api import validation
from workers.api.errors import ApiError
from workers.api.limits import ALLOWED_CONTENT_TYPES, LIST_MAX_LIMIT, MAX_DISPLAY_FILENAME_CHARS, MAX_PARTS

SHA256 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
FILE_ID = "0" * 32
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.floats(), st.integers(min_value=-2, max_value=2**70),
    st.sampled_from([*ALLOWED_CONTENT_TYPES[:3], [], {}]), st.text(max_size=4),
)


VALID = {"filename": "a.txt", "contentType": "text/plain", "size": 5, "sha256": SHA256, "partNumber": 1, "etag": "e"}
NEAR_MISSES = {
    "filename": ["", "\ud800", "a" * (MAX_DISPLAY_FILENAME_CHARS + 1)],
    "contentType": ["TEXT/PLAIN", "text/html", None],
    "size": [True, 5.0, "5", 0, -1, 2**64],
    "sha256": [SHA256 + "\n", SHA256[:-1], SHA256.replace("=", "A"), None],
    "partNumber": [True, 1.0, "1", 0, MAX_PARTS + 1],
    "etag": ["", "a" * 1025, 5],
    "parts": [[], None, [1], {}],
}


def bodies(model: type[BaseModel]) -> st.SearchStrategy:
    """Objects of `model`'s fields, each valid, nearly valid or odd, at most
    one of them left out, and at times with a field the model lacks."""
    fields = {}
    for name in model.model_fields:
        if name == "parts":
            item = PartChecksum if model is PartsRequest else CompletedPart
            valid = st.lists(bodies(item), min_size=1, max_size=3)
        else:
            valid = st.just(VALID[name])
        fields[name] = st.one_of(valid, valid, valid, st.sampled_from(NEAR_MISSES[name]), ODD_VALUES)
    left_out = st.one_of(st.just(()), st.just(()), st.sets(st.sampled_from(sorted(fields)), max_size=1))
    extra = st.dictionaries(st.sampled_from(["owner", "key", "partNumber"]), ODD_VALUES, max_size=1)
    return st.builds(lambda chosen, gone, more: {**more, **{k: v for k, v in chosen.items() if k not in gone}},
                     st.fixed_dictionaries(fields), left_out, st.one_of(st.just({}), st.just({}), extra))


def pydantic_answer(model: type[BaseModel], body) -> tuple[str, object]:
    try:
        return "valid", model.model_validate(body).model_dump()
    except ValidationError as error:
        location = [str(part) for part in error.errors()[0]["loc"] if not isinstance(part, int)]
        return "invalid", ".".join(location) or "body"


def our_answer(operation: str, body) -> tuple[str, object]:
    event = api_event(method="POST", path="/", query="", headers=[("content-type", "application/json")],
                      body=json.dumps(body).encode(), claims={"sub": "someone"}, source_ip="192.0.2.1")
    try:
        return "valid", validation.check(operation, APIGatewayProxyEventV2(event), {"fileId": FILE_ID}).body
    except ApiError as error:
        assert error.status == 400 and error.code == "invalid_request"
        return "invalid", error.message.split(":", 1)[0]


@pytest.mark.parametrize(("operation", "model"), [
    ("createUpload", CreateUpload), ("presignParts", PartsRequest), ("completeUpload", CompleteRequest),
])
@hsettings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_body_passes_or_fails_as_its_model_says(operation, model, data):
    body = data.draw(st.one_of(bodies(model), bodies(model), bodies(model), ODD_VALUES))
    assert our_answer(operation, body) == pydantic_answer(model, body)


@pytest.mark.parametrize("body", [
    {"filename": "a.txt", "contentType": "text/plain", "size": 5},
    {"filename": "a.txt", "contentType": "text/plain", "size": 5, "sha256": SHA256},
    {"parts": [{"partNumber": 1, "sha256": SHA256}]},
])
def test_a_valid_body_reads_as_the_model_dumps_it(body):
    operation, model = ("createUpload", CreateUpload) if "size" in body else ("presignParts", PartsRequest)
    assert our_answer(operation, body) == ("valid", model.model_validate(body).model_dump())


def test_a_body_that_is_not_json_is_named_as_the_body():
    event = api_event(method="POST", path="/", query="", headers=[("content-type", "application/json")],
                      body=b'{"filename": ', claims={"sub": "someone"}, source_ip="192.0.2.1")
    with pytest.raises(ApiError) as refused:
        validation.check("createUpload", APIGatewayProxyEventV2(event), {})
    assert refused.value.message.startswith("body:")


@pytest.mark.parametrize("limit", ["5", " 5 ", "+5", "5_0", "00005", "5.0", "5.00", "5.", ".5e1", "1e2", "1E1", "0x10",
                                   "\u0665", "\uff15", "_5", "5__0", "-0", "5.5", "inf", "nan", "", "101", "1,2"])
def test_a_query_integer_is_read_as_pydantic_reads_it(limit):
    query = TypeAdapter(Annotated[int, Field(ge=1, le=LIST_MAX_LIMIT)])
    try:
        expected = ("valid", query.validate_python(limit))
    except ValidationError:
        expected = ("invalid", "limit")
    event = api_event(method="GET", path="/files", query=urlencode({"limit": limit}), headers=[],
                      body=b"", claims={"sub": "someone"}, source_ip="192.0.2.1")
    try:
        answer = ("valid", validation.check("listFiles", APIGatewayProxyEventV2(event), {}).parameters["limit"])
    except ApiError as error:
        answer = ("invalid", error.message.split(":", 1)[0])
    assert answer == expected
