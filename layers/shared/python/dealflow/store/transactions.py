"""Every DynamoDB transaction goes through ``transact``: measured as DynamoDB measures it (count
of actions, each item's size, the aggregate size) and refused before the call when it would not
fit, with a message naming the limit — moto does not enforce the sizes, so without this a write
that fails on AWS passes every local test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from dealflow.http_errors import PayloadTooLarge
from dealflow.limits import MAX_ITEM_BYTES, MAX_TRANSACTION_BYTES, MAX_TRANSACTION_ITEMS


def _number_size(value: int | Decimal) -> int:
    # "approximately 1 byte per two significant digits, plus 1 byte"; leading/trailing zeros trimmed.
    digits = len(Decimal(value).normalize().as_tuple().digits)
    return (digits + 1) // 2 + 1


def value_size(value: Any) -> int:
    """Bytes of one attribute value as DynamoDB counts them (the names of map keys included)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | Decimal):
        return _number_size(value)
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):  # a map: 3 bytes, plus 1 per element, plus names and values
        return 3 + sum(1 + len(str(k).encode()) + value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + value_size(v) for v in value)
    if isinstance(value, set | frozenset):
        return sum(value_size(v) for v in value)
    return len(str(value).encode())


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size: every attribute's name (UTF-8 bytes) plus its value."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def _action_size(action: Mapping[str, Any]) -> int:
    """What one transaction action adds to the aggregate: a put's item; an update's, delete's or
    condition check's key and the values it writes or compares."""
    (body,) = action.values()
    if "Item" in body:
        return item_size(body["Item"])
    return item_size(body["Key"]) + item_size(body.get("ExpressionAttributeValues", {}))


def check_transaction(actions: Sequence[Mapping[str, Any]]) -> None:
    """``PayloadTooLarge`` naming the limit when ``actions`` are not one DynamoDB transaction."""
    if len(actions) > MAX_TRANSACTION_ITEMS:
        raise PayloadTooLarge(
            f"{len(actions)} writes; one DynamoDB transaction takes at most {MAX_TRANSACTION_ITEMS}",
            limit="transaction_items",
            max=MAX_TRANSACTION_ITEMS,
            size=len(actions),
        )
    total = 0
    for action in actions:
        size = _action_size(action)
        if size > MAX_ITEM_BYTES:
            (body,) = action.values()
            key = {k: v for k, v in (body.get("Key") or body["Item"]).items() if k in ("tenant_id", "sk", "id")}
            raise PayloadTooLarge(
                f"item {key} is {size:,} bytes; DynamoDB stores at most {MAX_ITEM_BYTES:,} per item",
                limit="item_bytes",
                max=MAX_ITEM_BYTES,
                size=size,
            )
        total += size
    if total > MAX_TRANSACTION_BYTES:
        raise PayloadTooLarge(
            f"the writes add up to {total:,} bytes; one DynamoDB transaction takes at most {MAX_TRANSACTION_BYTES:,}",
            limit="transaction_bytes",
            max=MAX_TRANSACTION_BYTES,
            size=total,
        )


def transact(client: Any, actions: Sequence[Mapping[str, Any]]) -> None:
    """One TransactWriteItems call, all or nothing, checked against DynamoDB's limits first."""
    check_transaction(actions)
    client.transact_write_items(TransactItems=list(actions))
