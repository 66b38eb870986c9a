"""Writes of definitions that the API needs and ``AutomationStore`` does not offer yet: a put
that is conditional on the version the caller read (a stale write is refused, not lost) and a
delete. Same keys, same transaction shape as ``AutomationStore.put_definition`` (the item and the
tenant's ``automation_version`` bump together), so caches stay right.

TODO(domain): move both into ``dealflow.store.automation.AutomationStore``.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dealflow.store.automation import TENANT_SK, Definition, UnknownTenant, _definition_sk
from dealflow.store.items import cancellation_reasons, to_item


class StaleDefinition(RuntimeError):
    """The stored definition's version is not the one the write was based on."""


class DefinitionWriter:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _bump(self, tenant_id: str) -> dict[str, Any]:
        return {"Update": {"TableName": self._table.name, "Key": {"tenant_id": tenant_id, "sk": TENANT_SK},
                           "UpdateExpression": "ADD automation_version :one",
                           "ConditionExpression": "attribute_exists(sk)",
                           "ExpressionAttributeValues": {":one": 1}}}

    def _write(self, tenant_id: str, first: dict[str, Any], what: str) -> None:
        try:
            self._table.meta.client.transact_write_items(TransactItems=[first, self._bump(tenant_id)])
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise StaleDefinition(what) from exc
            if reasons and len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise UnknownTenant(f"unknown tenant '{tenant_id}'") from exc
            raise

    def put(self, tenant_id: str, model: Definition, expected_version: int | None) -> None:
        """Store ``model``; ``expected_version`` None means "must not exist yet", otherwise the
        stored item must carry that version."""
        put: dict[str, Any] = {"TableName": self._table.name,
                               "Item": to_item(model, tenant_id=tenant_id, sk=_definition_sk(model))}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(sk)"
            what = "it was created meanwhile"
        else:
            put["ConditionExpression"] = "#v = :v"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": expected_version}
            what = f"it changed since version {expected_version}"
        self._write(tenant_id, {"Put": put}, what)

    def put_unversioned(self, tenant_id: str, model: Definition) -> None:
        """Pipelines and fields carry no version: last write wins (as AutomationStore.put_definition)."""
        self._write(tenant_id, {"Put": {"TableName": self._table.name,
                                        "Item": to_item(model, tenant_id=tenant_id, sk=_definition_sk(model))}},
                    "unreachable")

    def delete(self, tenant_id: str, model: Definition) -> None:
        self._write(tenant_id, {"Delete": {"TableName": self._table.name,
                                           "Key": {"tenant_id": tenant_id, "sk": _definition_sk(model)},
                                           "ConditionExpression": "attribute_exists(sk)"}},
                    "it was deleted meanwhile")
