"""Turning models into DynamoDB items and back, and the few DynamoDB idioms every store uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from pydantic import BaseModel


def to_item(model: BaseModel, **extra: Any) -> dict[str, Any]:
    """DynamoDB accepts no floats: route through JSON so every number becomes a Decimal."""
    item = json.loads(model.model_dump_json(exclude_none=True), parse_float=Decimal)
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
