"""Custom field definitions, per tenant."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from dealflow.model.base import Model
from dealflow.model.bounds import Key

# Standard deal fields; custom field codes may not shadow them, so a condition's ``field`` is never
# ambiguous.
STANDARD_FIELDS = frozenset(
    {
        "id",
        "title",
        "amount",
        "currency",
        "responsible_id",
        "contact",
        "company",
        "pipeline_id",
        "stage_id",
        "created_at",
        "updated_at",
        "version",
        "entity",
        "lead_id",
        "copied_from_id",
        "copy_ids",
        "steps",
    }
)


class FieldKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHECKBOX = "checkbox"
    LIST = "list"
    USER = "user"


class FieldDefinition(Model):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1, max_length=200)
    kind: FieldKind
    options: list[Key] = Field(default_factory=list, description="Allowed values of a list field")
    version: int = Field(default=1, ge=1, description="The version read (1 for a new one); a write since then is a 409")

    @field_validator("code")
    @classmethod
    def _not_standard(cls, code: str) -> str:
        if code in STANDARD_FIELDS:
            raise ValueError(f"'{code}' is a standard deal field; choose another code")
        return code

    @model_validator(mode="after")
    def _options_only_for_lists(self) -> FieldDefinition:
        if self.kind is FieldKind.LIST and not self.options:
            raise ValueError("options: a list field needs at least one option")
        if self.kind is not FieldKind.LIST and self.options:
            raise ValueError("options: only list fields have options")
        return self
