"""Condition operands: a clause compares a field with a constant, a variable or another field of the
same deal; what the operand stood for is in the trace; saving checks the operands exist, that the
two sides can be compared, and refuses a template where a value belongs, saying what to write."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from dealflow.authoring.checks import check_automation
from dealflow.authoring.transfer import export_document, validate_document
from dealflow.http_errors import Invalid
from dealflow.language.conditions import compile_condition, referenced_fields
from dealflow.model import Condition, TypedValue
from dealflow.policy.run_view import _traces
from tests.fakes import a_rule, a_tenant, automation_of, compiled_tenant

CONDITION = TypeAdapter(Condition)
TENANT_VALUES = {"const.min": Decimal("5000"), "var.target": Decimal("20000"), "const.region": "north"}


def holds(condition: dict[str, Any], new: dict[str, Any], trace: list[dict[str, Any]] | None = None) -> bool:
    return compile_condition(CONDITION.validate_python(condition))({**TENANT_VALUES, **new}, None, trace)


@pytest.mark.parametrize(
    ("value", "amount", "expected"),
    [
        ({"const": "min"}, 5000, True),
        ({"const": "min"}, "4999.99", False),
        ({"var": "target"}, 20000, True),
        ({"var": "target"}, 19999, False),
        ({"field": "budget"}, 12000, True),
        ({"field": "budget"}, 11999, False),
    ],
)
def test_every_operand_kind_compares_a_number_field(value: dict[str, str], amount: Any, expected: bool) -> None:
    assert holds({"field": "amount", "op": "gte", "value": value}, {"amount": amount, "budget": 12000}) is expected


def test_an_operand_is_read_on_every_check_not_when_compiled() -> None:
    test = compile_condition(CONDITION.validate_python({"field": "amount", "op": "gt", "value": {"const": "min"}}))
    deal = {"amount": Decimal("6000")}
    assert test({**deal, "const.min": Decimal("5000")}) is True
    assert test({**deal, "const.min": Decimal("7000")}) is False


@pytest.mark.parametrize(
    ("op", "value", "deal", "expected"),
    [
        ("equals", {"const": "region"}, {"region": "north"}, True),
        ("not_equals", {"const": "region"}, {"region": "north"}, False),
        ("contains", {"const": "region"}, {"region": "far north"}, True),
        ("equals", {"field": "budget"}, {"amount": "12000.00", "budget": 12000}, True),
        ("lt", {"field": "budget"}, {"amount": 1, "budget": None}, False),  # nothing to compare with
        ("in", {"field": "regions"}, {"region": "west", "regions": ["north", "west"]}, True),
        ("not_in", {"field": "regions"}, {"region": "east", "regions": ["north", "west"]}, True),
        ("in", {"field": "regions"}, {"region": "east", "regions": None}, False),
    ],
)
def test_operands_with_other_operators(op: str, value: dict[str, str], deal: dict[str, Any], expected: bool) -> None:
    field = "amount" if "amount" in deal else "region"
    assert holds({"field": field, "op": op, "value": value}, deal) is expected


def test_changed_to_an_operand_compares_with_its_value_now() -> None:
    condition = CONDITION.validate_python({"field": "stage_id", "op": "changed_to", "value": {"var": "goal"}})
    test = compile_condition(condition)
    assert test({"stage_id": "won", "var.goal": "won"}, {"stage_id": "new"}) is True
    assert test({"stage_id": "lost", "var.goal": "won"}, {"stage_id": "new"}) is False


def test_the_trace_shows_the_operand_and_what_it_stood_for() -> None:
    trace: list[dict[str, Any]] = []
    assert holds({"field": "amount", "op": "gte", "value": {"const": "min"}}, {"amount": 100}, trace) is False
    assert trace == [
        {
            "field": "amount",
            "op": "gte",
            "value": {"const": "min"},
            "actual": 100,
            "resolved": Decimal("5000"),
            "result": False,
        }
    ]


def test_a_field_operand_hidden_from_the_reader_is_shown_hidden() -> None:
    seen = {"field": "amount", "op": "gt", "value": {"field": "budget"}, "actual": 5, "resolved": 9, "result": False}
    shown = _traces([seen], lambda name: name != "budget")
    assert shown == [{**seen, "resolved": "(hidden)", "hidden": True}]


def test_the_fields_a_condition_reads_include_its_operands() -> None:
    condition = CONDITION.validate_python(
        {
            "all": [
                {"field": "amount", "op": "gt", "value": {"field": "budget"}},
                {"field": "title", "op": "equals", "value": {"const": "t"}},
            ]
        }
    )
    assert referenced_fields(condition) == {"amount", "budget", "title", "const.t"}


@pytest.mark.parametrize(
    "value",
    [{"const": "Bad Name"}, {"field": "const.min"}, {"var": ""}],
)
def test_an_operand_with_an_impossible_name_is_refused_by_the_model(value: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CONDITION.validate_python({"field": "amount", "op": "gt", "value": value})


def test_a_literal_object_that_is_no_operand_stays_a_literal() -> None:
    condition = CONDITION.validate_python({"field": "contact", "op": "equals", "value": {"name": "Ann"}})
    assert holds(condition.model_dump(), {"contact": {"name": "Ann"}}) is True


# --- at save ---------------------------------------------------------------------------------------

TENANT = a_tenant(
    constants={
        "crm_url": TypedValue(type="text", value="https://crm.acme.example"),
        "min_amount": TypedValue(type="number", value="5000"),
        "cutoff": TypedValue(type="date", value="2026-12-31"),
    },
    variables={"target": TypedValue(type="number", value="20000")},
)
KNOWN = compiled_tenant(TENANT)


def _problems(automation: Any) -> dict[str, str]:
    with pytest.raises(Invalid) as exc:
        check_automation(automation, KNOWN)
    return {p["field"]: p["problem"] for p in exc.value.problems}


def _rule(condition: dict[str, Any]) -> Any:
    return a_rule("r", condition=condition)


def test_operands_that_resolve_and_fit_are_accepted() -> None:
    for condition in [
        {"field": "amount", "op": "gte", "value": {"const": "min_amount"}},
        {"field": "budget", "op": "lt", "value": {"var": "target"}},
        {"field": "amount", "op": "lte", "value": {"field": "budget"}},
        {"field": "proposal_sent_on", "op": "lt", "value": {"const": "cutoff"}},
        {"field": "region", "op": "equals", "value": {"const": "crm_url"}},
        {"field": "region", "op": "in", "value": {"field": "what_we_sell"}},
    ]:
        check_automation(_rule(condition), KNOWN)


@pytest.mark.parametrize(
    ("condition", "at", "problem"),
    [
        (
            {"field": "amount", "op": "gte", "value": {"const": "crm_url"}},
            "condition.value.const",
            "field 'amount' is a number field and constant 'crm_url' is text: they cannot be compared",
        ),
        (
            {"field": "proposal_sent_on", "op": "gt", "value": {"var": "target"}},
            "condition.value.var",
            "field 'proposal_sent_on' is a date field and variable 'target' is number: they cannot be compared",
        ),
        (
            {"field": "budget", "op": "equals", "value": {"field": "region"}},
            "condition.value.field",
            "field 'budget' is a number field and field 'region' is a text field: they cannot be compared",
        ),
        (
            {"field": "amount", "op": "gt", "value": {"const": "nope"}},
            "condition.value.const",
            "no constant 'nope' in this tenant",
        ),
        (
            {"field": "amount", "op": "gt", "value": {"var": "nope"}},
            "condition.value.var",
            "no variable 'nope' in this tenant or process",
        ),
        (
            {"field": "amount", "op": "gt", "value": {"field": "nope"}},
            "condition.value.field",
            "no field 'nope' (neither a standard deal field nor a custom field of this tenant)",
        ),
        (
            {"field": "region", "op": "in", "value": {"field": "region"}},
            "condition.value.field",
            "'in' needs a list field; field 'region' is a text field",
        ),
    ],
)
def test_operands_that_do_not_resolve_or_fit_are_422s_naming_both(condition: Any, at: str, problem: str) -> None:
    assert _problems(_rule(condition)) == {at: problem}


def test_a_template_as_a_condition_value_is_refused_saying_what_to_write() -> None:
    rule = _rule({"all": [{"field": "amount", "op": "gte", "value": "{{ const.min_amount }}"}]})
    problem = _problems(rule)["condition.all.0.value"]
    assert "not rendered as a template" in problem and '{"const": "min_amount"}' in problem
    field = _problems(_rule({"field": "budget", "op": "equals", "value": "{{deal.amount}}"}))["condition.value"]
    assert '{"field": "amount"}' in field
    listed = _problems(_rule({"field": "region", "op": "in", "value": ["north", "{{ var.target * 2 }}"]}))
    assert '{"const": name}, {"var": name} or {"field": code}' in listed["condition.value.1"]


def test_an_operand_inside_a_list_of_values_is_refused() -> None:
    problems = _problems(_rule({"field": "region", "op": "in", "value": ["north", {"const": "crm_url"}]}))
    assert problems == {
        "condition.value.1": "a list of values holds literals only; an operand compares with the whole value"
    }


def _process(condition: dict[str, Any], **body: Any) -> Any:
    branch = {"name": "big", "condition": condition, "nodes": []}
    nodes = [{"kind": "set_variable", "variable": "limit", "value": 3}, {"kind": "condition", "branches": [branch]}]
    return automation_of(kind="business_process", id="p", name="P", start_on=["change"], nodes=nodes, **body)


def test_a_process_condition_may_compare_with_its_own_variables_and_parameters() -> None:
    check_automation(_process({"field": "amount", "op": "gt", "value": {"var": "limit"}}), KNOWN)
    typed = {"floor": {"type": "number", "value": 1}}
    check_automation(_process({"field": "amount", "op": "gt", "value": {"var": "floor"}}, parameters=typed), KNOWN)
    problems = _problems(_process({"field": "title", "op": "equals", "value": {"var": "floor"}}, parameters=typed))
    assert problems == {
        "nodes.1.branches.0.condition.value.var": "field 'title' is a text field and variable 'floor' is number: "
        "they cannot be compared"
    }
    assert _problems(_process({"field": "amount", "op": "gt", "value": {"var": "ceiling"}})) == {
        "nodes.1.branches.0.condition.value.var": "no variable 'ceiling' in this tenant or process"
    }


def test_a_deleted_constant_or_field_in_an_operand_is_a_warning() -> None:
    rule = _rule(
        {
            "all": [
                {"field": "amount", "op": "gt", "value": {"const": "min_amount"}},
                {"field": "amount", "op": "lt", "value": {"field": "budget"}},
            ]
        }
    )
    fields = [f for f in KNOWN.fields.values() if f.code != "budget"]
    tenant = TENANT.model_copy(update={"constants": {"crm_url": TENANT.constants["crm_url"]}})
    known = compiled_tenant(tenant, fields=fields, automation=[rule])
    assert known.warnings["r"] == [
        "field 'budget' no longer exists (condition.all.1.value.field)",
        "constant 'min_amount' no longer exists (condition.all.0.value.const)",
    ]


def test_operands_survive_export_and_import() -> None:
    rule = _rule({"field": "amount", "op": "gte", "value": {"const": "min_amount"}})
    known = compiled_tenant(TENANT, automation=[rule])
    document = export_document(known)
    [exported] = document["automation"]
    assert exported["condition"] == {"field": "amount", "op": "gte", "value": {"const": "min_amount"}}
    imported = validate_document(document, known)
    assert imported.automation[0].condition == rule.condition
    without = {**document, "constants": {k: v for k, v in document["constants"].items() if k != "min_amount"}}
    with pytest.raises(Invalid) as exc:
        validate_document(without, known)
    assert {
        "field": "automation.r.condition.value.const",
        "problem": "no constant 'min_amount' in this tenant",
    } in exc.value.problems
