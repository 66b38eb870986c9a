"""A tenant's users, one item each beside the tenant's settings item.

The settings item once held every user in a list, and ~3,000 users filled DynamoDB's 400 KB item;
now each user is an item ``TENANT#USER#<id>`` in the tenant's partition, so one Query on the prefix
``TENANT`` reads the settings item and every user together (in 1 MB pages). A tenant stored the old
way keeps its list readable: while the settings item still has ``users``, that list is the truth,
and the first change of users moves it into items and removes it (``UserItems.replace``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from dealflow.model import Tenant, User
from dealflow.model.base import stored
from dealflow.store.items import dynamo_value, is_conditional_failure, plain, query_all, to_item

TENANT_SK = "TENANT"
USER_PREFIX = f"{TENANT_SK}#USER#"
# DynamoDB's TransactWriteItems takes at most 100 items.
_TRANSACTION_ITEMS = 100


class UsersChanged(RuntimeError):
    """The tenant's users changed between reading and writing them."""


def user_sk(user_id: str) -> str:
    return f"{USER_PREFIX}{user_id}"


def _digest(user: User) -> str:
    """What a user item was written as, so a change can require that it is still so."""
    return hashlib.sha256(json.dumps(user.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:32]


def _item(tenant_id: str, user: User) -> dict[str, Any]:
    return to_item(user, tenant_id=tenant_id, sk=user_sk(user.id), digest=_digest(user))


def tenant_from_items(tenant_id: str, items: Iterable[dict[str, Any]]) -> Tenant | None:
    """The tenant from its settings item and user items (None without a settings item)."""
    settings: dict[str, Any] | None = None
    users: list[User] = []
    for item in items:
        if item["sk"] == TENANT_SK:
            settings = item
        elif item["sk"].startswith(USER_PREFIX):
            users.append(stored(User, plain(item, "tenant_id", "sk", "digest")))
    if settings is None:
        return None
    fields = plain(settings, "tenant_id", "sk") | {"id": tenant_id}
    if "users" not in settings:  # an old settings item's list stays the truth until moved
        fields["users"] = [u.model_dump(mode="python") for u in sorted(users, key=lambda u: u.id)]
    return stored(Tenant, fields)


class UserItems:
    """Reads and writes a tenant together with its user items, in AutomationTable."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def read(self, tenant_id: str) -> Tenant | None:
        """The settings item and every user: one Query (paged by DynamoDB at 1 MB)."""
        return tenant_from_items(tenant_id, query_all(self._table, tenant_id, TENANT_SK))

    def settings_item(self, tenant: Tenant) -> dict[str, Any]:
        """The tenant's settings item: everything but its users (each its own item)."""
        item = to_item(tenant, tenant_id=tenant.id, sk=TENANT_SK)
        item.pop("users", None)
        return item

    def write_all(self, tenant_id: str, users: Sequence[User]) -> None:
        """Make the tenant's user items exactly ``users`` (no guard: setting a tenant up)."""
        keep = {u.id for u in users}
        with self._table.batch_writer() as batch:
            for item in query_all(self._table, tenant_id, USER_PREFIX, ProjectionExpression="sk"):
                if item["sk"].removeprefix(USER_PREFIX) not in keep:
                    batch.delete_item(Key={"tenant_id": tenant_id, "sk": item["sk"]})
            for user in users:
                batch.put_item(Item=_item(tenant_id, user))

    def replace(self, tenant_id: str, before: list[User], after: list[User]) -> None:
        """Write the users as ``after``, provided they are still ``before``: each added user must not
        exist yet, each changed or removed one must be as read (else ``UsersChanged``). Up to 100
        changes are one transaction; more (an operator's bulk change) go in several."""
        raw = self._table.get_item(Key={"tenant_id": tenant_id, "sk": TENANT_SK}, ConsistentRead=True).get("Item")
        if raw is not None and "users" in raw:
            self._move_out_of_settings(tenant_id, before, after)
            return
        old = {u.id: u for u in before}
        new = {u.id: u for u in after}
        writes: list[dict[str, Any]] = []
        for user in after:
            if user.id not in old:
                writes.append(self._put(tenant_id, user, "attribute_not_exists(sk)", {}))
            elif old[user.id] != user:
                writes.append(self._put(tenant_id, user, "digest = :d", {":d": _digest(old[user.id])}))
        for user in before:
            if user.id not in new:
                delete = {
                    "TableName": self._table.name,
                    "Key": {"tenant_id": tenant_id, "sk": user_sk(user.id)},
                    "ConditionExpression": "digest = :d",
                    "ExpressionAttributeValues": {":d": _digest(user)},
                }
                writes.append({"Delete": delete})
        for at in range(0, len(writes), _TRANSACTION_ITEMS):
            try:
                self._table.meta.client.transact_write_items(TransactItems=writes[at : at + _TRANSACTION_ITEMS])
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "TransactionCanceledException":
                    raise UsersChanged(f"the users of tenant '{tenant_id}' changed meanwhile; read them again") from exc
                raise

    def _put(self, tenant_id: str, user: User, condition: str, values: dict[str, Any]) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table.name,
            "Item": _item(tenant_id, user),
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeValues"] = values
        return {"Put": put}

    def _move_out_of_settings(self, tenant_id: str, before: list[User], after: list[User]) -> None:
        """An old tenant's first change of users: ``after`` written as items, then the list removed
        from the settings item if it is still ``before``. Until that removal the list stays the
        truth, so a move cut short, or overtaken, leaves nothing half-read."""
        self.write_all(tenant_id, after)
        try:
            self._table.update_item(
                Key={"tenant_id": tenant_id, "sk": TENANT_SK},
                UpdateExpression="REMOVE #u",
                ConditionExpression="#u = :old",
                ExpressionAttributeNames={"#u": "users"},
                ExpressionAttributeValues={
                    ":old": [dynamo_value(u.model_dump(mode="python", exclude_none=True)) for u in before]
                },
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise UsersChanged(f"the users of tenant '{tenant_id}' changed meanwhile; read them again") from exc
            raise
