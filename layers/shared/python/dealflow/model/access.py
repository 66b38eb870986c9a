"""Column-level rights: per role and entity (deal, lead) whether items may be read and written,
and per field (standard or custom) an access level. And the view of a deal or lead a person gets:
the same shape as ``Deal``/``Lead`` minus the fields they may not read, which are named in
``hidden_fields`` so nobody mistakes a hidden amount for a missing one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, create_model, model_serializer, model_validator

from dealflow.model.base import Model
from dealflow.model.bounds import Key
from dealflow.model.deal import Deal, DealValues, Lead

AccessLevel = Literal["hidden", "read", "write"]
EntityName = Literal["deal", "lead"]

# What a person sets on an item can be restricted; ids, versions and engine bookkeeping cannot
# (an item without its id or version could be neither linked to nor changed).
RESTRICTABLE_FIELDS = tuple(name for name in DealValues.model_fields if name != "fields")


class EntityRights(Model):
    """One role's rights on one entity. Fields not named are writable (when the entity is)."""

    read: bool = True
    write: bool = True
    fields: dict[Key, AccessLevel] = Field(
        default_factory=dict,
        description="Field code (standard or custom) → hidden | read | write; absent fields are write",
    )

    @model_validator(mode="after")
    def _write_needs_read(self) -> EntityRights:
        # Writing blind would let a role overwrite values it cannot see; refuse the combination.
        if self.write and not self.read:
            raise ValueError("write: a role that may not read the entity may not write it either")
        return self

    def level(self, field: str) -> AccessLevel:
        """The effective level of ``field``: capped by the entity's read and write rights."""
        if not self.read:
            return "hidden"
        level = self.fields.get(field, "write")
        return "read" if level == "write" and not self.write else level


class RoleRights(Model):
    # Plural keys, like the /deals resource: the error paths of the API treat a leading "deal" or
    # "lead" as a union tag and would drop it from "deal.fields.amount".
    deals: EntityRights = Field(default_factory=EntityRights)
    leads: EntityRights = Field(default_factory=EntityRights)

    def of(self, entity: str) -> EntityRights:
        return self.leads if entity == "lead" else self.deals


class _ItemView(Model):
    """The fields a reader may not see are left out of the JSON, not sent as null."""

    # Left unannotated: pydantic documents a serializer's return annotation as the view's schema,
    # which would make it a bare object. (``handler`` is pydantic's SerializerFunctionWrapHandler.)
    @model_serializer(mode="wrap")
    def _drop_hidden(self, handler):
        data = handler(self)
        for name in getattr(self, "hidden_fields", ()):
            if name in RESTRICTABLE_FIELDS:
                data.pop(name, None)
        return data


def _view_of(item: type[Deal], name: str) -> type[_ItemView]:
    """``item``'s fields, those a person sets made optional (they may be hidden), plus
    ``hidden_fields``; derived from the model so the view never drifts from it."""
    fields: dict[str, Any] = {}
    for field_name, info in item.model_fields.items():
        if field_name in RESTRICTABLE_FIELDS:
            assert info.annotation is not None  # a model's own fields are all annotated
            fields[field_name] = (info.annotation | None, Field(default=None, description=info.description))
        else:
            fields[field_name] = (info.annotation, info)
    fields["hidden_fields"] = (
        list[str],
        Field(
            default_factory=list,
            description=("Fields (standard names, custom codes) the caller's role may not read: left out of this item"),
        ),
    )
    return create_model(
        name, __base__=_ItemView, __doc__=f"A {item.__name__.lower()} as the caller may see it", **fields
    )


DealView = _view_of(Deal, "DealView")
LeadView = _view_of(Lead, "LeadView")
# The views are built at import (create_model), so a type checker sees variables, not classes.
ItemView = Annotated[DealView | LeadView, Field(discriminator="entity")]  # type: ignore[valid-type]
