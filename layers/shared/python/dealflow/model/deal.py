"""Deals as stored in DealsTable, and the causation every engine write carries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, EmailStr, Field, Tag, TypeAdapter, ValidationError

from dealflow.model.base import Id, Model
from dealflow.model.bounds import Key, StoredDecimal, StoredValue

# Custom fields by code: any JSON value, every number in it one DynamoDB can store.
CustomFields = dict[Key, StoredValue]


class Contact(Model):
    name: str = Field(default="", max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=50)


class Causation(Model):
    """Which run made a write, and how deep the automation chain is (loop protection)."""

    run_id: Key
    automation_id: Key
    depth: int = Field(ge=0)
    chain: list[Key] = Field(default_factory=list, description="Automation ids that led here, oldest first")


class StepDone(Model):
    """Who marked a sales-process step done, and when."""

    by: str = Field(
        min_length=1, max_length=200, description="A user id, or workflow:<id> when a field–step workflow marked it"
    )
    at: Key


class DealValues(Model):
    """What a person sets on a deal or lead: where it is and what it holds."""

    pipeline_id: Id
    stage_id: Id
    title: str = Field(min_length=1, max_length=500)
    amount: StoredDecimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    responsible_id: Id | None = None
    contact: Contact | None = None
    company: str | None = Field(default=None, max_length=200)
    fields: CustomFields = Field(default_factory=dict, description="Custom fields by code")


class Deal(DealValues):
    """A deal; leads share its shape (see ``Lead``) and its table, so one stream, one dispatcher
    and one set of actions serve both."""

    entity: Literal["deal"] = "deal"
    tenant_id: Id
    id: Id
    version: int = Field(default=1, ge=1, description="Optimistic-locking counter, bumped on every write")
    created_at: Key | None = None
    updated_at: Key | None = None
    caused_by: Causation | None = Field(default=None, description="Set when automation made the write")
    lead_id: Id | None = Field(default=None, description="The lead this deal was created from")
    copied_from_id: Id | None = Field(default=None, description="The deal a tunnel copied this one from")
    copy_ids: list[Id] = Field(default_factory=list, description="Copies tunnels made of this deal")
    steps: dict[Id, StepDone] = Field(default_factory=dict, description="Done steps of the pipeline, by step id")

    def value(self, name: str) -> Any:
        """A standard field by name, else a custom field by code (None when absent)."""
        if name in type(self).model_fields and name != "fields":
            return getattr(self, name)
        return self.fields.get(name)


class Lead(Deal):
    """A lead, moving through a lead pipeline's stages. Deals created from it carry its id."""

    # Narrows the tag pydantic discriminates on; a lead is every other bit a deal, so it stays a
    # subclass (the tag's type differs from Deal's, which mypy calls an incompatible override).
    entity: Literal["lead"] = "lead"  # type: ignore[assignment]


def _entity(value: Any) -> str:
    # Items stored before leads existed carry no ``entity``: they are deals.
    found = value.get("entity") if isinstance(value, dict) else getattr(value, "entity", None)
    return found or "deal"


Item = Annotated[Annotated[Deal, Tag("deal")] | Annotated[Lead, Tag("lead")], Discriminator(_entity)]
"""A deal or a lead, as the model its ``entity`` names (a deal when absent). Every model that
carries an item of either entity (a run request, say) types it so, or a lead would be refused."""
_ITEM: TypeAdapter[Deal | Lead] = TypeAdapter(Item)


def parse_item(data: Any) -> Deal | Lead:
    """A stored or streamed item as the model its ``entity`` names (a deal when absent); like every
    stored item (``dealflow.model.base.stored``), attributes this version does not know are ignored."""
    return _ITEM.validate_python(data, extra="ignore")


def _as_stored(value: Any) -> Any:
    if isinstance(value, Deal):
        return value
    try:
        return parse_item(value)
    except ValidationError:
        return value  # invalid however it is read: the field's own validation says where


StoredItem = Annotated[Item, BeforeValidator(_as_stored)]
"""An item as a stream image or a run's checkpoint carries it, read as ``parse_item`` reads it."""
