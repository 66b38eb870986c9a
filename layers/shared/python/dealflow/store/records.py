"""Workgroups and tasks that automation creates, stored in AutomationTable.

Their ids derive from the effect's idempotency key, so creating one twice finds the first.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dealflow.ports import record_id
from dealflow.store.items import is_conditional_failure, plain, query_all


class RecordStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def create_once(self, tenant_id: str, kind: str, effect_key: str, values: dict[str, Any]) -> tuple[dict, bool]:
        """Store a workgroup or task; returns it and whether this call created it."""
        item = {
            "tenant_id": tenant_id,
            "sk": f"{kind.upper()}#{record_id(effect_key)}",
            "id": record_id(effect_key),
            **values,
        }
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            existing = self._table.get_item(Key={"tenant_id": tenant_id, "sk": item["sk"]})["Item"]
            return plain(existing, "tenant_id", "sk"), False
        return plain(item, "tenant_id", "sk"), True

    def list(self, tenant_id: str, kind: str) -> list[dict[str, Any]]:
        return [plain(i, "tenant_id", "sk") for i in query_all(self._table, tenant_id, f"{kind.upper()}#")]
