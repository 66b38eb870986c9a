"""A tenant's settings on its item in AutomationTable: the tenant and its users, constants and
variables, rights and calendars. ``AutomationStore`` has these methods; they live here to keep
the definitions' module about definitions.

Constants and variables are read by compiled conditions, so changing one bumps the tenant's
``automation_version`` in the same write (every cached compiled copy sees it); a constant's value is
also kept as its next version. Rights and calendars are read afresh by what uses them: no bump.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from dealflow.model import Tenant, TypedValue, User
from dealflow.model.base import stored
from dealflow.model.calendar import Calendar, UserCalendar
from dealflow.model.catalog import content_digest
from dealflow.model.versions import VersionNote
from dealflow.store.history import VersionHistory, stamped
from dealflow.store.items import is_conditional_failure, to_item
from dealflow.store.users import TENANT_SK, UserItems

ValueKind = Literal["constants", "variables"]


class UnknownTenant(LookupError):
    pass


class TenantSettings:
    """The tenant item's part of ``AutomationStore`` (on its table, keeping versions in its history)."""

    _table: Any
    history: VersionHistory

    def put_tenant(self, tenant: Tenant) -> None:
        users = UserItems(self._table)
        self._table.put_item(Item=users.settings_item(tenant))
        users.write_all(tenant.id, tenant.users)

    def get_tenant(self, tenant_id: str) -> Tenant:
        tenant = UserItems(self._table).read(tenant_id)
        if tenant is None:
            raise UnknownTenant(f"unknown tenant '{tenant_id}'")
        return tenant

    def set_variable(self, tenant_id: str, name: str, value: object) -> None:
        """Change one tenant variable (keeping its type); a new one takes the type of its value."""
        tenant = self.get_tenant(tenant_id)
        known = tenant.variables.get(name)
        typed = TypedValue(type=known.type, value=value) if known else TypedValue.model_validate(value)
        self._table.update_item(
            Key={"tenant_id": tenant_id, "sk": TENANT_SK},
            UpdateExpression="SET variables.#n = :v",
            ExpressionAttributeNames={"#n": name},
            ExpressionAttributeValues={":v": to_item(typed)},
        )

    def _note_constant(self, tenant_id: str, name: str, typed: TypedValue, note: VersionNote | None) -> None:
        """A constant's saved value as its next version (constants have no version of their own),
        unless it is the value its last version holds (an import rewrites every constant)."""
        found, _ = self.history.page(tenant_id, "constant", name, 1)
        last = found[0] if found else None
        body = typed.model_dump(mode="python", exclude_none=True)
        if last is not None and TypedValue.model_validate(last.body) == typed:
            return
        number = (last.version if last else 0) + 1
        self.history.keep(tenant_id, "constant", name, number, content_digest(typed), body, stamped(note))

    def put_value(
        self, tenant_id: str, kind: ValueKind, name: str, typed: TypedValue, note: VersionNote | None = None
    ) -> bool:
        """Set one constant or variable, bumping the tenant's automation version in the same write
        (compiled automation reads them, and is cached by that number). True when it is new. A
        constant's value is kept as its next version (variables change as runs go: no history)."""
        try:
            old = self._table.update_item(
                Key={"tenant_id": tenant_id, "sk": TENANT_SK},
                UpdateExpression="SET #kind.#n = :v ADD automation_version :one",
                ConditionExpression="attribute_exists(sk)",
                ExpressionAttributeNames={"#kind": kind, "#n": name},
                ExpressionAttributeValues={":v": to_item(typed), ":one": 1},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise UnknownTenant(f"unknown tenant '{tenant_id}'") from exc
            raise
        if kind == "constants":
            self._note_constant(tenant_id, name, typed, note)
        return name not in (old.get("Attributes", {}).get(kind) or {})

    def delete_value(self, tenant_id: str, kind: ValueKind, name: str) -> TypedValue | None:
        """Remove one constant or variable with the same version bump; the removed value, or None
        when there was none."""
        try:
            old = self._table.update_item(
                Key={"tenant_id": tenant_id, "sk": TENANT_SK},
                UpdateExpression="REMOVE #kind.#n ADD automation_version :one",
                ConditionExpression="attribute_exists(#kind.#n)",
                ExpressionAttributeNames={"#kind": kind, "#n": name},
                ExpressionAttributeValues={":one": 1},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return None
            raise
        return stored(TypedValue, old["Attributes"][kind][name])

    def set_rights(self, tenant_id: str, role: str, rights: BaseModel) -> None:
        """Replace one role's rights on the tenant item, leaving the other roles' and the rest alone."""
        key = {"tenant_id": tenant_id, "sk": TENANT_SK}
        try:  # DynamoDB sets a nested path only under an existing map: create the map once.
            self._table.update_item(
                Key=key,
                UpdateExpression="SET rights = :none",
                ExpressionAttributeValues={":none": {}},
                ConditionExpression="attribute_exists(sk) AND attribute_not_exists(rights)",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression="SET rights.#r = :v",
                ConditionExpression=("attribute_exists(sk)"),
                ExpressionAttributeNames={"#r": role},
                ExpressionAttributeValues={":v": to_item(rights)},
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise UnknownTenant(f"unknown tenant '{tenant_id}'") from exc
            raise

    def set_calendar(self, tenant_id: str, calendar: Calendar | None) -> Calendar | None:
        """Replace (None: remove) the tenant's working calendar; the one it had. Runs read it when
        they plan a wait or assign, so no automation-version bump is needed."""
        key = {"tenant_id": tenant_id, "sk": TENANT_SK}
        change: dict[str, Any] = (
            {"UpdateExpression": "REMOVE calendar"}
            if calendar is None
            else {"UpdateExpression": "SET calendar = :c", "ExpressionAttributeValues": {":c": to_item(calendar)}}
        )
        try:
            old = self._table.update_item(
                Key=key, ConditionExpression="attribute_exists(sk)", ReturnValues="ALL_OLD", **change
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise UnknownTenant(f"unknown tenant '{tenant_id}'") from exc
            raise
        before = old.get("Attributes", {}).get("calendar")
        return stored(Calendar, before) if before else None

    def set_user_calendar(self, tenant_id: str, user_id: str, calendar: UserCalendar | None) -> User | None:
        """Give one user their own calendar (None: back to the tenant's); the user, or None when
        the tenant has no such user. Written as every change of users is: conditional on the user
        being as read (``UsersChanged`` otherwise)."""
        tenant = self.get_tenant(tenant_id)
        user = tenant.user(user_id)
        if user is None:
            return None
        changed = user.model_copy(update={"calendar": calendar})
        after = [changed if u.id == user_id else u for u in tenant.users]
        UserItems(self._table).replace(tenant_id, list(tenant.users), after)
        return changed
