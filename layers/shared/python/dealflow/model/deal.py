"""Deals as stored in DealsTable, and the causation every engine write carries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import EmailStr, Field

from dealflow.model.base import Id, Model


class Contact(Model):
    name: str = Field(default="", max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=50)


class Causation(Model):
    """Which run made a write, and how deep the automation chain is (loop protection)."""

    run_id: str
    automation_id: str
    depth: int = Field(ge=0)


class Deal(Model):
    tenant_id: Id
    id: Id
    pipeline_id: Id
    stage_id: Id
    title: str = Field(min_length=1, max_length=500)
    amount: Decimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    responsible_id: Id | None = None
    contact: Contact | None = None
    company: str | None = Field(default=None, max_length=200)
    fields: dict[str, Any] = Field(default_factory=dict, description="Custom fields by code")
    version: int = Field(default=1, ge=1, description="Optimistic-locking counter, bumped on every write")
    created_at: str | None = None
    updated_at: str | None = None
    caused_by: Causation | None = Field(default=None, description="Set when automation made the write")

    def value(self, name: str) -> Any:
        """A standard field by name, else a custom field by code (None when absent)."""
        if name in type(self).model_fields and name != "fields":
            return getattr(self, name)
        return self.fields.get(name)
