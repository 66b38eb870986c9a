"""Conditions as data: a clause compares a deal field (``field``, ``op``) with a literal value or
an operand (``{"const": name}``, ``{"var": name}``, ``{"field": code}``); ``all`` and ``any`` combine
them. ``dealflow.language.conditions`` compiles them to closures; rules, triggers, tunnels, business
processes, goals and exits hold them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from dealflow.model.base import Model
from dealflow.model.bounds import StoredValue

Operator = Literal[
    "equals",
    "not_equals",
    "in",
    "not_in",
    "contains",
    "gt",
    "gte",
    "lt",
    "lte",
    "is_empty",
    "is_not_empty",
    "changed",
    "changed_from",
    "changed_to",
]
VALUELESS_OPERATORS = frozenset({"is_empty", "is_not_empty", "changed"})
LIST_OPERATORS = frozenset({"in", "not_in"})
LIST_FIELD = '{"field": code}'


_OPERAND_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class ConstOperand(Model):
    """Compare with a tenant constant as it is when the condition is checked: ``{"const": "min"}``."""

    const: str = Field(pattern=_OPERAND_NAME)

    @property
    def key(self) -> str:
        """Where a condition's flat view holds it (``dealflow.engine.changes.tenant_facts``)."""
        return f"const.{self.const}"


class VarOperand(Model):
    """Compare with a variable: the tenant's, or in a business process the process's own."""

    var: str = Field(pattern=_OPERAND_NAME)

    @property
    def key(self) -> str:
        return f"var.{self.var}"


class FieldOperand(Model):
    """Compare with another field of the same deal: ``{"field": "budget"}``."""

    field: str = Field(pattern=_OPERAND_NAME)

    @property
    def key(self) -> str:
        return self.field


Operand = ConstOperand | VarOperand | FieldOperand
OPERAND_KEYS = frozenset({"const", "var", "field"})


def _value_tag(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in OPERAND_KEYS:
        return str(next(iter(value)))
    if isinstance(value, ConstOperand | VarOperand | FieldOperand):
        return next(iter(type(value).model_fields))
    return "literal"


ClauseValue = Annotated[
    Annotated[ConstOperand, Tag("const")]
    | Annotated[VarOperand, Tag("var")]
    | Annotated[FieldOperand, Tag("field")]
    | Annotated[StoredValue, Tag("literal")],
    Discriminator(_value_tag),
]


def _any_of(schema: dict[str, Any]) -> None:
    """An operand is also an object a literal may be: the schema says one of them or both, as
    the discriminator decides (a strict oneOf would call ``{"const": "min"}`` ambiguous)."""
    if "oneOf" in schema:
        schema["anyOf"] = schema.pop("oneOf")


class Clause(Model):
    """One test of one field: ``{"field": "amount", "op": "gt", "value": 1000}``; the value may be
    an operand read when the condition is checked: ``{"const": "min"}``, ``{"var": "target"}``,
    ``{"field": "budget"}``."""

    field: str = Field(min_length=1, max_length=64)
    op: Operator
    value: ClauseValue = Field(default=None, json_schema_extra=_any_of)

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Clause:
        if self.op in VALUELESS_OPERATORS:
            if self.value is not None:
                raise ValueError(f"value: operator '{self.op}' takes no value")
        elif self.value is None:
            raise ValueError(f"value: operator '{self.op}' needs a value")
        elif self.op in LIST_OPERATORS and not isinstance(self.value, list | FieldOperand):
            raise ValueError(f"value: operator '{self.op}' needs a list of values (or a list field: {LIST_FIELD})")
        return self

    @property
    def operand(self) -> Operand | None:
        """The value when it is an operand rather than a literal."""
        return self.value if isinstance(self.value, ConstOperand | VarOperand | FieldOperand) else None


class AllOf(Model):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Model):
    any: list[Condition] = Field(min_length=1)


_CONDITION_TAGS: dict[type[Model], str] = {AllOf: "all", AnyOf: "any", Clause: "clause"}


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return "all" if "all" in value else "any" if "any" in value else "clause"
    return _CONDITION_TAGS.get(type(value))


Condition = Annotated[
    Annotated[Clause, Tag("clause")] | Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")],
    Discriminator(_condition_tag),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
