"""Tenants (one company's CRM): users, roles, constants and variables."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field, StringConstraints, field_validator, model_validator

from dealflow.model.access import RoleRights
from dealflow.model.base import Id, Model
from dealflow.model.bounds import StoredDecimal, Text, number_problem
from dealflow.model.calendar import Calendar, UserCalendar


def _none(value: object) -> bool:
    return value is None


class PlanName(StrEnum):
    """What the tenant pays for (the plans themselves: ``dealflow.model.plan``)."""

    FREE = "free"
    TEAM = "team"
    BUSINESS = "business"
    ENTERPRISE = "enterprise"


class Role(StrEnum):
    ADMIN = "admin"
    SALES_MANAGER = "sales_manager"
    SALES_REP = "sales_rep"


class User(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    role: Role = Role.SALES_REP
    # Left out of stored JSON when unset: a user item's digest stays what it was written as.
    calendar: UserCalendar | None = Field(
        default=None, exclude_if=_none, description="The user's own hours, time zone, out-of-office days"
    )


ValueType = Literal["text", "number", "date", "boolean", "user"]
_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class TypedValue(Model):
    """A constant's or a variable's value with its type: numbers are exact decimals, dates ISO
    days, users a user id of the tenant."""

    type: ValueType
    value: Text | StoredDecimal | bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _infer(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return data
        # A bare value: its type follows from it (a string is text).
        kind = "boolean" if isinstance(data, bool) else "number" if isinstance(data, int | float | Decimal) else "text"
        return {"type": kind, "value": data}

    @model_validator(mode="after")
    def _value_fits_type(self) -> TypedValue:
        value = self.value
        if value is None:
            return self
        if self.type == "number":
            try:
                number = Decimal(str(value))
            except InvalidOperation as exc:
                raise ValueError(f"value: {value!r} is not a number") from exc
            problem = number_problem(number)
            if problem:
                raise ValueError(f"value: {problem}")
            self.value = number
        elif self.type == "boolean" and not isinstance(value, bool):
            raise ValueError(f"value: {value!r} is not true or false")
        elif self.type == "date":
            try:
                self.value = date.fromisoformat(str(value)).isoformat()
            except ValueError as exc:
                raise ValueError(f"value: {value!r} is not a date (YYYY-MM-DD)") from exc
        elif self.type in ("text", "user"):
            self.value = str(value)
        return self


TypedValues = Annotated[dict[Annotated[str, StringConstraints(pattern=_NAME)], TypedValue], Field(default_factory=dict)]


class Tenant(Model):
    """The tenant's settings item. ``automation_version`` changes whenever automation changes,
    so containers can keep compiled automation cached and check one number per batch."""

    id: Id
    name: str = Field(min_length=1, max_length=200)
    users: list[User] = Field(default_factory=list)
    constants: TypedValues = Field(description="Rarely changed values: tax rate, the chief accountant")
    variables: TypedValues = Field(description="Values people or automation change: commission %")
    sender_email: EmailStr | None = Field(
        default=None,
        description="Where replies to the tenant's automation e-mails go (their Reply-To). They come from the "
        "stack's verified sender under the tenant's name: SES sends only as identities the stack verified",
    )
    plan: PlanName = Field(default=PlanName.BUSINESS, description="Caps active automation (see model/plan.py)")
    automation_version: int = 0
    rights: dict[Role, RoleRights] = Field(
        default_factory=dict, description="Column-level rights by role; a role not named may read and write everything"
    )
    calendar: Calendar | None = Field(
        default=None, exclude_if=_none, description="Working hours, time zone and holidays (PUT /calendar)"
    )

    @field_validator("sender_email")
    @classmethod
    def _sendable(cls, address: str | None) -> str | None:
        # SES takes no SMTPUTF8: a non-ASCII local part is refused on every send, so it is here.
        if address is not None and not address.rpartition("@")[0].isascii():
            raise ValueError(f"{address!r}: SES takes only addresses whose part before the @ is ASCII")
        return address

    @model_validator(mode="after")
    def _unique_users(self) -> Tenant:
        ids = [u.id for u in self.users]
        if len(ids) != len(set(ids)):
            raise ValueError("users: user ids must be unique")
        return self

    @model_validator(mode="after")
    def _user_values_name_users(self) -> Tenant:
        for kind, values in (("constants", self.constants), ("variables", self.variables)):
            for name, typed in values.items():
                if typed.type == "user" and typed.value is not None and self.user(str(typed.value)) is None:
                    raise ValueError(f"{kind}.{name}: unknown user '{typed.value}'")
        return self

    def values(self, kind: Literal["constants", "variables"]) -> dict[str, Any]:
        """Plain values by name, as templates and conditions see them."""
        return {name: typed.value for name, typed in getattr(self, kind).items()}

    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.id == user_id), None)
