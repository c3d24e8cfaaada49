"""Each request checked against its operation in the OpenAPI document, without
pydantic: its JSON body, query, headers and path parameters.

The schemas come from the document (workers/api/request_schemas.json, made
by `python -m apidoc --request-schemas` and kept current by a test), so
the models in `apidoc.models` stay the one place that defines them. Only
the parts of JSON Schema those schemas use are read, with pydantic's strict
meaning: a JSON type is never coerced (`true`, `"5"` or `5.0` is not an
integer) and a string must be valid Unicode. Loading pydantic and Powertools'
OpenAPI models to do this cost each cold start about 100 ms.

Failures are the API's 400, `field: what is wrong`, worded as pydantic words them."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.api.errors import invalid_request

SCHEMAS_PATH = Path(__file__).with_name("request_schemas.json")
_SCHEMAS: dict[str, dict] = json.loads(SCHEMAS_PATH.read_text())
_JSON_TYPES = {"string": str, "integer": int, "array": list, "object": dict, "null": type(None)}
# What pydantic's lax mode reads as an integer: ASCII digits, a sign, single
# underscores between digits, a zero fraction and surrounding whitespace.
_LAX_INTEGER = re.compile(r"[ \t\n\r]*[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?[ \t\n\r]*")
_TYPE_MESSAGES = {
    "string": "Input should be a valid string",
    "integer": "Input should be a valid integer",
    "array": "Input should be a valid list",
    "object": "Input should be a valid dictionary or object",
    "null": "Input should be None",
}


class Invalid(Exception):
    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Valid:
    """A request that passed: its body with every declared field (None when
    absent, as pydantic's model_dump gave it), and its parameters by name."""

    body: Any
    parameters: dict[str, Any]


def check(operation: str, event, path_parameters: Mapping[str, str]) -> Valid:
    """The request `event` checked against `operation`'s schemas; an ApiError 400 if it fails."""
    declared = _SCHEMAS[operation]
    try:
        parameters = {spec["name"]: _parameter(spec, event, path_parameters) for spec in declared["parameters"]}
        body = _body(declared["body"], event) if declared["body"] is not None else None
    except Invalid as invalid:
        raise invalid_request(f"{'.'.join(invalid.path)}: {invalid.message}") from None
    return Valid(body=body, parameters=parameters)


def _parameter(spec: dict, event, path_parameters: Mapping[str, str]) -> Any:
    name, where = spec["name"], spec["in"]
    sources = {"path": path_parameters, "query": event.query_string_parameters or {},
               "header": event.headers or {}}
    value = sources[where].get(name)
    if value is None:
        if spec.get("required"):
            raise Invalid((name,), "Field required")
        return spec["schema"].get("default")
    return _valid(_from_text(value, spec["schema"], (name,)), spec["schema"], (name,))


def _from_text(value: str, schema: dict, path: tuple[str, ...]) -> Any:
    """A parameter arrives as text; an integer one is read as pydantic's lax mode reads it."""
    if _types(schema) != {"integer"}:
        return value
    if not _LAX_INTEGER.fullmatch(value):
        raise Invalid(path, "Input should be a valid integer, unable to parse string as an integer")
    return int(value.strip().split(".", 1)[0])


def _types(schema: dict) -> set[str]:
    return {schema["type"]} if "type" in schema else {t for option in schema.get("anyOf", ()) for t in _types(option)}


def _body(schema: dict, event) -> Any:
    try:
        body = event.json_body
    except json.JSONDecodeError:
        raise Invalid(("body",), "JSON decode error") from None
    if body is None:
        raise Invalid(("body",), "Field required")
    return _valid(body, schema, ())


def _valid(value: Any, schema: dict, path: tuple[str, ...]) -> Any:
    if "anyOf" in schema:
        return _any_of(value, schema["anyOf"], path)
    kind = schema["type"]
    if not isinstance(value, _JSON_TYPES[kind]) or (kind == "integer" and isinstance(value, bool)):
        raise Invalid(path or ("body",), _TYPE_MESSAGES[kind])
    if kind == "string":
        _string(value, schema, path)
    elif kind == "integer":
        _bounded(value, schema, path)
    elif kind == "array":
        return _array(value, schema, path)
    elif kind == "object":
        return _object(value, schema, path)
    if "enum" in schema and value not in schema["enum"]:
        choices = [repr(choice) for choice in schema["enum"]]
        raise Invalid(path, f"Input should be {', '.join(choices[:-1])} or {choices[-1]}")
    return value


def _any_of(value: Any, options: list[dict], path: tuple[str, ...]) -> Any:
    failures = []
    for option in options:
        try:
            return _valid(value, option, path)
        except Invalid as invalid:
            failures.append(invalid)
    # The option that is not `null` says best what was wrong.
    raise next((failure for option, failure in zip(options, failures, strict=True)
                if option.get("type") != "null"), failures[0])


def _string(value: str, schema: dict, path: tuple[str, ...]) -> None:
    try:
        value.encode()
    except UnicodeEncodeError:
        raise Invalid(path, "Input should be a valid string, unable to parse raw data as a unicode string") from None
    if len(value) < schema.get("minLength", 0):
        raise Invalid(path, f"String should have at least {_count(schema['minLength'], 'character')}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise Invalid(path, f"String should have at most {_count(schema['maxLength'], 'character')}")
    if "pattern" in schema:
        found = _pattern(schema["pattern"]).search(value)
        # pydantic's `$` is the end of the string; Python's also matches before a final newline.
        if found is None or (schema["pattern"].endswith("$") and found.end() != len(value)):
            raise Invalid(path, f"String should match pattern '{schema['pattern']}'")


@functools.cache
def _pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _bounded(value: int, schema: dict, path: tuple[str, ...]) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise Invalid(path, f"Input should be greater than or equal to {_number(schema['minimum'])}")
    if "maximum" in schema and value > schema["maximum"]:
        raise Invalid(path, f"Input should be less than or equal to {_number(schema['maximum'])}")


def _array(value: list, schema: dict, path: tuple[str, ...]) -> list:
    if len(value) < schema.get("minItems", 0):
        raise Invalid(path, f"List should have at least {_count(schema['minItems'], 'item')} after validation, "
                            f"not {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise Invalid(path, f"List should have at most {_count(schema['maxItems'], 'item')} after validation, "
                            f"not {len(value)}")
    return [_valid(item, schema["items"], path) for item in value]


def _object(value: dict, schema: dict, path: tuple[str, ...]) -> dict:
    properties = schema.get("properties", {})
    checked = {}
    for name, field in properties.items():
        if name in value:
            checked[name] = _valid(value[name], field, (*path, name))
        elif name in schema.get("required", ()):
            raise Invalid((*path, name), "Field required")
        else:
            checked[name] = field.get("default")
    if schema.get("additionalProperties") is False:
        extra = next((name for name in value if name not in properties), None)
        if extra is not None:
            raise Invalid((*path, extra), "Extra inputs are not permitted")
    return checked


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)
