"""Transactions measured as DynamoDB measures them, refused before the call when they would not fit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dealflow.http_errors import PayloadTooLarge
from dealflow.limits import MAX_ITEM_BYTES, MAX_TRANSACTION_ITEMS
from dealflow.store.transactions import item_size, transact


def _put(**item: Any) -> dict[str, Any]:
    return {"Put": {"TableName": "T", "Item": {"tenant_id": "t", "sk": "s", **item}}}


class _Client:
    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        self.calls.append(TransactItems)


def test_an_items_size_counts_attribute_names_and_values() -> None:
    assert item_size({"title": "Café"}) == len("title") + len("Café".encode())  # UTF-8 bytes: 5
    assert item_size({"n": Decimal("12500.00")}) == 1 + 2 + 1  # 125: two digits a byte, plus one
    assert item_size({"ok": True, "gone": None}) == 2 + 1 + 4 + 1
    assert item_size({"m": {"a": "xy"}}) == 1 + 3 + 1 + 1 + 2
    assert item_size({"l": ["ab", "c"]}) == 1 + 3 + (1 + 2) + (1 + 1)


def test_a_transaction_within_the_limits_goes_through_in_one_call() -> None:
    client = _Client()
    actions = [_put(body="x" * 39_000) for _ in range(MAX_TRANSACTION_ITEMS)]  # 3.9 MB, 100 items
    transact(client, actions)
    assert client.calls == [actions]


@pytest.mark.parametrize(
    ("actions", "limit"),
    [
        ([_put() for _ in range(MAX_TRANSACTION_ITEMS + 1)], "transaction_items"),
        ([_put(body="x" * MAX_ITEM_BYTES)], "item_bytes"),
        ([_put(body="x" * 300_000) for _ in range(14)], "transaction_bytes"),  # 4.2 MB
        (
            [
                {
                    "Update": {
                        "TableName": "T",
                        "Key": {"tenant_id": "t"},
                        "ExpressionAttributeValues": {":v": "x" * 410_000},
                    }
                }
            ],
            "item_bytes",
        ),
    ],
)
def test_what_one_transaction_cannot_hold_is_refused_before_the_call(actions: list[dict[str, Any]], limit: str) -> None:
    client = _Client()
    with pytest.raises(PayloadTooLarge) as refused:
        transact(client, actions)
    assert refused.value.details["limit"] == limit and client.calls == []
    assert f"{refused.value.details['max']:,}" in refused.value.reason
