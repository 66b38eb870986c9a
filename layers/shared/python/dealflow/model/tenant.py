"""Tenants (one company's CRM): users, roles and constants."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import EmailStr, Field, model_validator

from dealflow.model.base import Id, Model


class Role(StrEnum):
    ADMIN = "admin"
    SALES_MANAGER = "sales_manager"
    SALES_REP = "sales_rep"


class User(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    role: Role = Role.SALES_REP


class Tenant(Model):
    """The tenant's settings item. ``automation_version`` changes whenever automation changes,
    so containers can keep compiled automation cached and check one number per batch."""

    id: Id
    name: str = Field(min_length=1, max_length=200)
    users: list[User] = Field(default_factory=list)
    constants: dict[str, str | Decimal | bool | int] = Field(default_factory=dict)
    sender_email: EmailStr | None = None
    automation_version: int = 0

    @model_validator(mode="after")
    def _unique_users(self) -> Tenant:
        ids = [u.id for u in self.users]
        if len(ids) != len(set(ids)):
            raise ValueError("users: user ids must be unique")
        return self

    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.id == user_id), None)
