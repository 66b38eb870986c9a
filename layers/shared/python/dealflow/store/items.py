"""Turning models into DynamoDB items and back, and the few DynamoDB idioms every store uses."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.conditions import Key
from pydantic import BaseModel

_AS_STORED = frozenset({str, int, bool, Decimal})  # the leaves most items are made of, kept as they are


def dynamo_value(value: Any) -> Any:
    """A Python value as DynamoDB stores it: numbers as numbers (never floats, never text)."""
    if type(value) in _AS_STORED:  # checked first: every text of a run-log entry passes here
        return value
    if isinstance(value, dict):
        return {k: dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [dynamo_value(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def to_item(model: BaseModel, **extra: Any) -> dict[str, Any]:
    item = dynamo_value(model.model_dump(mode="python", exclude_none=True, by_alias=True))
    item.update(extra)
    return item


def plain(item: dict[str, Any], *drop: str) -> dict[str, Any]:
    """An item without its storage-only keys, ready for ``Model.model_validate``."""
    return {k: v for k, v in item.items() if k not in drop}


def query_all(table: Any, partition: str, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    condition = Key("tenant_id").eq(partition) & Key("sk").begins_with(prefix)
    params: dict[str, Any] = {"KeyConditionExpression": condition, **kwargs}
    while True:
        page = table.query(**params)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def is_conditional_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


def cancellation_reasons(exc: Exception) -> list[str]:
    """The per-item codes of a cancelled transaction, in the order the items were given."""
    reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
    return [r.get("Code", "None") for r in reasons]
