"""Custom field values checked by their field's kind: the one check behind the API's deal routes,
automation saved or imported, and the update_fields action."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dealflow.engine.field_values import BadFieldValue, field_value, field_values
from dealflow.model import FieldDefinition, Role, Tenant, User

TENANT = Tenant(id="t1", name="T", users=[User(id="u-ada", name="Ada", email="ada@t.example", role=Role.ADMIN)])
FIELDS = {
    f.code: f
    for f in (
        FieldDefinition(code="budget", name="Budget", kind="number"),
        FieldDefinition(code="deadline", name="Deadline", kind="date"),
        FieldDefinition(code="signed", name="Signed", kind="checkbox"),
        FieldDefinition(code="accountant", name="Accountant", kind="user"),
        FieldDefinition(code="sells", name="Sells", kind="list", options=["services", "products"]),
        FieldDefinition(code="note", name="Note", kind="text"),
    )
}


@pytest.mark.parametrize(
    ("code", "value", "held"),
    [
        ("budget", "12500.00", Decimal("12500.00")),
        ("budget", 12500, Decimal("12500")),
        ("budget", 0.1, Decimal("0.1")),
        ("deadline", "2026-12-04", "2026-12-04"),
        ("deadline", "2026-12-04T18:00:00Z", "2026-12-04"),
        ("signed", True, True),
        ("signed", "no", False),
        ("accountant", "u-ada", "u-ada"),
        ("sells", "services", "services"),
        ("note", "anything", "anything"),
        ("note", Decimal("12.50"), "12.50"),
        ("budget", None, None),  # null clears a field of any kind
    ],
)
def test_a_value_comes_back_as_its_field_holds_it(code: str, value: Any, held: Any) -> None:
    got = field_value(FIELDS[code], value, TENANT)
    assert got == held and type(got) is type(held)


@pytest.mark.parametrize(
    ("code", "value", "problem"),
    [
        ("budget", "lots", 'expected a number, got "lots"'),
        ("budget", True, "expected a number, got true"),
        ("budget", "NaN", 'expected a number, got "NaN"'),
        ("budget", [1], "expected a number, got [1]"),
        ("deadline", "next Friday", 'expected a date (YYYY-MM-DD), got "next Friday"'),
        ("deadline", "2026-02-30", 'expected a date (YYYY-MM-DD), got "2026-02-30"'),
        ("deadline", 20261204, "expected a date (YYYY-MM-DD), got 20261204"),
        ("signed", "lots", 'expected true or false, got "lots"'),
        ("accountant", "u-ghost", "no user 'u-ghost' in this tenant"),
        ("accountant", 7, "expected a user id, got 7"),
        ("sells", "hardware", 'expected one of services, products; got "hardware"'),
        ("sells", True, "expected one of services, products; got true"),
        ("note", {"a": 1}, 'expected text, got {"a": 1}'),
    ],
)
def test_a_value_its_field_cannot_hold_is_refused_saying_why(code: str, value: Any, problem: str) -> None:
    with pytest.raises(BadFieldValue) as exc:
        field_value(FIELDS[code], value, TENANT)
    assert str(exc.value) == problem


def test_a_long_value_is_shown_cut_short() -> None:
    with pytest.raises(BadFieldValue) as exc:
        field_value(FIELDS["budget"], "x" * 500, TENANT)
    assert str(exc.value) == 'expected a number, got "' + "x" * 56 + "..."


def test_every_problem_of_a_write_is_named_by_its_field() -> None:
    held, problems = field_values({"budget": "12", "deadline": "soon", "regoin": "north"}, FIELDS, TENANT)
    assert held == {"budget": Decimal("12")}
    assert problems == [
        {"field": "fields.deadline", "problem": 'expected a date (YYYY-MM-DD), got "soon"'},
        {"field": "fields.regoin", "problem": "no custom field 'regoin' in this tenant"},
    ]
