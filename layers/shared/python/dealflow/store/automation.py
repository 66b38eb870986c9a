"""Tenant settings and automation definitions in AutomationTable, with a per-container cache.

Every definition write bumps the tenant's ``automation_version`` in the same transaction, so a
dispatcher can trust its compiled copy after reading one small item.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from dealflow.dispatch import AutomationIndex, TenantAutomation
from dealflow.model import BusinessProcess, FieldDefinition, Pipeline, Rule, Tenant, Trigger, Tunnel, TypedValue
from dealflow.store.items import plain, query_all, to_item

TENANT_SK = "TENANT"
_DEFINITION_PREFIX = "DEF#"
Definition = Pipeline | FieldDefinition | Rule | Tunnel | Trigger | BusinessProcess
_KINDS: dict[str, type[Definition]] = {
    "PIPELINE": Pipeline, "FIELD": FieldDefinition, "RULE": Rule, "TUNNEL": Tunnel, "TRIGGER": Trigger,
    "PROCESS": BusinessProcess}
_AUTOMATION_KINDS = ("RULE", "TUNNEL", "TRIGGER", "PROCESS")


class UnknownTenant(LookupError):
    pass


def _definition_sk(model: Definition) -> str:
    if isinstance(model, FieldDefinition):
        return f"{_DEFINITION_PREFIX}FIELD#{model.code}"
    kind = next(k for k, cls in _KINDS.items() if isinstance(model, cls))
    return f"{_DEFINITION_PREFIX}{kind}#{model.id}"


class AutomationStore:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._cache: dict[str, TenantAutomation] = {}

    def put_tenant(self, tenant: Tenant) -> None:
        self._table.put_item(Item=to_item(tenant, tenant_id=tenant.id, sk=TENANT_SK))

    def get_tenant(self, tenant_id: str) -> Tenant:
        item = self._table.get_item(Key={"tenant_id": tenant_id, "sk": TENANT_SK}).get("Item")
        if item is None:
            raise UnknownTenant(f"unknown tenant '{tenant_id}'")
        return Tenant.model_validate(plain(item, "tenant_id", "sk") | {"id": tenant_id})

    def put_definition(self, tenant_id: str, model: Definition) -> None:
        """Store a pipeline, field or automation and bump the tenant's automation version, atomically."""
        client = self._table.meta.client
        try:
            client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table.name,
                         "Item": to_item(model, tenant_id=tenant_id, sk=_definition_sk(model))}},
                {"Update": {"TableName": self._table.name,
                            "Key": ({"tenant_id": tenant_id, "sk": TENANT_SK}),
                            "UpdateExpression": "ADD automation_version :one",
                            "ConditionExpression": "attribute_exists(sk)",
                            "ExpressionAttributeValues": ({":one": 1})}},
            ])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise UnknownTenant(f"unknown tenant '{tenant_id}'") from exc
            raise

    def set_variable(self, tenant_id: str, name: str, value: object) -> None:
        """Change one tenant variable (keeping its type); a new one takes the type of its value."""
        tenant = self.get_tenant(tenant_id)
        known = tenant.variables.get(name)
        typed = TypedValue(type=known.type, value=value) if known else TypedValue.model_validate(value)
        self._table.update_item(
            Key={"tenant_id": tenant_id, "sk": TENANT_SK}, UpdateExpression="SET variables.#n = :v",
            ExpressionAttributeNames={"#n": name},
            ExpressionAttributeValues={":v": to_item(typed)})

    def definitions(self, tenant_id: str) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {kind: [] for kind in _KINDS}
        for item in query_all(self._table, tenant_id, _DEFINITION_PREFIX):
            kind = item["sk"].split("#", 2)[1]
            found[kind].append(_KINDS[kind].model_validate(plain(item, "tenant_id", "sk")))
        return found

    def load(self, tenant_id: str) -> TenantAutomation:
        """Compiled automation for a tenant; recompiled only when its version moved."""
        tenant = self.get_tenant(tenant_id)
        cached = self._cache.get(tenant_id)
        if cached is not None and cached.version == tenant.automation_version:
            # Users and constants change without a version bump; they come fresh each time.
            return replace(cached, tenant=tenant)
        found = self.definitions(tenant_id)
        compiled = TenantAutomation(
            tenant=tenant,
            pipelines={p.id: p for p in found["PIPELINE"]},
            fields={f.code: f for f in found["FIELD"]},
            index=AutomationIndex([a for kind in _AUTOMATION_KINDS for a in found[kind]]),
            by_id={a.id: a for kind in _AUTOMATION_KINDS for a in found[kind]},
            version=tenant.automation_version,
        )
        self._cache[tenant_id] = compiled
        return compiled
