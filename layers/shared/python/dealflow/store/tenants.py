"""Tenants as the people who run the stack manage them: create, list, change plan and users, and
remove every trace of one (the smoke test's throwaway tenant).

Reading one tenant stays ``AutomationStore.get_tenant``; this module only adds what operators need
and the API never does (the API serves one tenant, whose existence it takes for granted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from dealflow.model import Tenant, User
from dealflow.model.plan import PlanName
from dealflow.store.items import is_conditional_failure
from dealflow.store.tenant_settings import UnknownTenant
from dealflow.store.users import TENANT_SK, UserItems, UsersChanged, tenant_from_items


class TenantExists(ValueError):
    pass


class TenantChanged(RuntimeError):
    """The tenant's users changed between reading and writing them."""


class TenantDirectory:
    def __init__(self, automation_table: Any, deals_table: Any) -> None:
        self._automation = automation_table
        self._deals = deals_table
        self._users = UserItems(automation_table)

    def create(self, tenant: Tenant) -> None:
        try:
            self._automation.put_item(
                Item=self._users.settings_item(tenant), ConditionExpression="attribute_not_exists(sk)"
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise TenantExists(f"tenant '{tenant.id}' already exists") from exc
            raise
        self._users.write_all(tenant.id, tenant.users)

    def all(self) -> Iterator[Tenant]:
        """Every tenant with its users, in no particular order. A scan of AutomationTable (tenant
        items share it with definitions and the run log): for an operator's occasional look, not for
        a request path."""
        params: dict[str, Any] = {"FilterExpression": Attr("sk").begins_with(TENANT_SK)}
        found: dict[str, list[dict[str, Any]]] = {}
        while True:
            page = self._automation.scan(**params)
            for item in page.get("Items", []):
                found.setdefault(item["tenant_id"], []).append(item)
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for tenant_id, items in found.items():
            tenant = tenant_from_items(tenant_id, items)
            if tenant is not None:
                yield tenant

    def _update(self, tenant_id: str, **params: Any) -> None:
        condition = params.pop("ConditionExpression", None)
        try:
            self._automation.update_item(
                Key={"tenant_id": tenant_id, "sk": TENANT_SK},
                ConditionExpression="attribute_exists(sk)" + (f" AND ({condition})" if condition else ""),
                **params,
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            if condition:
                raise TenantChanged(f"tenant '{tenant_id}' changed meanwhile; read it again") from exc
            raise UnknownTenant(f"unknown tenant '{tenant_id}'") from exc

    def set_plan(self, tenant_id: str, plan: PlanName) -> None:
        self._update(
            tenant_id,
            UpdateExpression="SET #p = :p",
            ExpressionAttributeNames={"#p": "plan"},
            ExpressionAttributeValues={":p": plan.value},
        )

    def replace_users(self, tenant_id: str, before: list[User], after: list[User]) -> None:
        """Write the tenant's users as ``after``, provided they are still ``before`` (a concurrent
        change is ``TenantChanged``, never silently overwritten). Users change without an automation
        version bump: compiled automation re-reads the tenant on every load. Each user is its own
        item (``store/users.py``); a tenant stored with its users in the settings item has them
        moved out on this first change."""
        if self._automation.get_item(Key={"tenant_id": tenant_id, "sk": TENANT_SK}).get("Item") is None:
            raise UnknownTenant(f"unknown tenant '{tenant_id}'")
        try:
            self._users.replace(tenant_id, before, after)
        except UsersChanged as exc:
            raise TenantChanged(str(exc)) from exc

    def deals_of(self, tenant_id: str, user_id: str) -> list[str]:
        """Ids of the tenant's deals and leads this user is responsible for."""
        params: dict[str, Any] = {
            "KeyConditionExpression": Key("tenant_id").eq(tenant_id),
            "FilterExpression": Attr("responsible_id").eq(user_id),
            "ProjectionExpression": "id",
        }
        found: list[str] = []
        while True:
            page = self._deals.query(**params)
            found += [item["id"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def purge(self, tenant_id: str) -> int:
        """Delete every item of the tenant in both tables (settings, definitions, run log, ledger,
        deals); returns how many. Deleting deals streams REMOVE records, so delete a tenant's deals
        (and let the dispatcher see them go) before calling this, or their waiting runs are not
        cancelled."""
        deleted = 0
        for table in (self._deals, self._automation):
            keys = [k["AttributeName"] for k in table.key_schema]
            params: dict[str, Any] = {
                "KeyConditionExpression": Key("tenant_id").eq(tenant_id),
                "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys))),
                "ExpressionAttributeNames": {f"#k{i}": key for i, key in enumerate(keys)},
            }
            with table.batch_writer() as batch:
                while True:
                    page = table.query(**params)
                    for item in page.get("Items", []):
                        batch.delete_item(Key={key: item[key] for key in keys})
                        deleted += 1
                    if "LastEvaluatedKey" not in page:
                        break
                    params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return deleted
