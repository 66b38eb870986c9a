"""Enrollment records, one item per (automation, item) in the tenant's partition
(``ENROLL#<automation id>#<item id>``): the runs it started under an enrollment rule, written with a
condition on the record's version. Kept while a start still counts (TTL), for ever under
re-enrollment ``off``. Automation loads read ``DEF#`` keys only, so these items cost them nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from dealflow.store.items import is_conditional_failure


def _sk(automation_id: str, item_id: str) -> str:
    return f"ENROLL#{automation_id}#{item_id}"


class EnrollmentStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def starts(self, tenant_id: str, automation_id: str, item_id: str) -> dict[str, Any] | None:
        key = {"tenant_id": tenant_id, "sk": _sk(automation_id, item_id)}
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return {"first": item["first"], "recent": item["recent"], "version": int(item["version"])}

    def record(
        self,
        tenant_id: str,
        automation_id: str,
        item_id: str,
        starts: dict[str, Any],
        expected_version: int,
        keep_until: datetime | None,
    ) -> bool:
        item = {"tenant_id": tenant_id, "sk": _sk(automation_id, item_id), **starts}
        if keep_until is not None:
            item["expires_at"] = int(keep_until.timestamp())
        condition = Attr("sk").not_exists() if expected_version == 0 else Attr("version").eq(expected_version)
        try:
            self._table.put_item(Item=item, ConditionExpression=condition)
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True
