"""Values as the table holds them: numbers as Decimal, moments as ISO strings,
items in the typed JSON an error response carries; and the conditional
UpdateItem whose refusal is an expected answer rather than an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from workers.errors import is_condition_failed


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_dynamo(value: Any) -> Any:
    """DynamoDB has no floats: numbers travel as Decimal."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed JSON, as an error response carries it."""
    deserializer = TypeDeserializer()
    return from_dynamo({name: deserializer.deserialize(value) for name, value in item.items()})


def conditional_update(table, **kwargs) -> dict[str, Any] | None:
    """Run an UpdateItem; return the old item, or None when the condition said no."""
    try:
        return table.update_item(ReturnValues="ALL_OLD", **kwargs).get("Attributes", {})
    except ClientError as exc:
        if is_condition_failed(exc):
            return None
        raise
