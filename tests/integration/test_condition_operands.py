"""Conditions that compare a deal's field with a constant, a variable or another field, end to end:
saved through the API (422s naming both sides, a template refused with what to write instead),
started by the dispatcher, checked in a process's branches, shown resolved in test mode and the
run log."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import PROCESS_TENANT, TENANT, demo_deal, set_up_process_tenant
from dealflow.model import BusinessProcess

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}


def _rule(rule_id: str, condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": rule_id,
        "name": rule_id,
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "condition": condition,
        "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": f"{rule_id}: {{{{ deal.title }}}}"}],
    }


def _put(stack: MotoStack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = stack.api("PUT", path, body, claims=ADMIN)
    assert status in (200, 201), answer
    return answer


def _problems(stack: MotoStack, rule: dict[str, Any]) -> dict[str, str]:
    status, body = stack.api("PUT", f"/automation/{rule['id']}", rule, claims=ADMIN)
    assert status == 422, body
    return {p["field"]: p["problem"] for p in body["problems"]}


def _negotiate(stack: MotoStack, deal_id: str, amount: str, budget: int | None = None) -> list[str]:
    deal = demo_deal(deal_id, deal_id, amount, "services")
    if budget is not None:
        deal = deal.model_copy(update={"fields": {**deal.fields, "budget": budget}})
    stack.create_deal(deal)
    stack.drain()
    before = len(stack.notifications())
    stack.move_deal(TENANT, deal_id, "negotiation")
    stack.drain()
    return sorted(n.message for n in stack.notifications()[before:])


@pytest.fixture
def operands(stack: MotoStack) -> MotoStack:
    _put(stack, "/constants/min_amount", {"type": "number", "value": "10000"})
    _put(stack, "/variables/stretch", {"type": "number", "value": "50000"})
    _put(stack, "/fields/budget", {"code": "budget", "name": "Budget", "kind": "number"})
    _put(
        stack,
        "/automation/over-min",
        _rule("over-min", {"field": "amount", "op": "gte", "value": {"const": "min_amount"}}),
    )
    _put(stack, "/automation/stretch", _rule("stretch", {"field": "amount", "op": "gt", "value": {"var": "stretch"}}))
    _put(
        stack,
        "/automation/over-budget",
        _rule("over-budget", {"field": "amount", "op": "gt", "value": {"field": "budget"}}),
    )
    return stack


def test_rules_compare_with_a_constant_a_variable_and_another_field(operands: MotoStack) -> None:
    assert _negotiate(operands, "small", "900.00", budget=1000) == []
    assert _negotiate(operands, "mid", "12000.00", budget=20000) == ["over-min: mid"]
    assert _negotiate(operands, "big", "60000.00", budget=30000) == [
        "over-budget: big",
        "over-min: big",
        "stretch: big",
    ]
    assert _negotiate(operands, "no-budget", "12000.00") == ["over-min: no-budget"]  # nothing to exceed


def test_a_changed_constant_counts_from_the_next_change_and_the_log_shows_what_it_was(operands: MotoStack) -> None:
    assert _negotiate(operands, "d-1", "8000.00") == []
    [why_not] = [r for r in operands.runs(TENANT, "d-1") if r.automation_id == "over-min"]
    [seen] = why_not.steps[0].detail["conditions"]
    assert (seen["value"], seen["resolved"], seen["actual"], seen["result"]) == (
        {"const": "min_amount"},
        10000,
        8000,
        False,
    )

    _put(operands, "/constants/min_amount", {"type": "number", "value": "5000"})
    assert _negotiate(operands, "d-2", "8000.00") == ["over-min: d-2"]


def test_test_mode_shows_the_value_each_operand_stood_for(operands: MotoStack) -> None:
    deal = {
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "title": "Tried",
        "amount": "45000",
        "fields": {"budget": 40000},
        "responsible_id": "u-anna",
    }
    status, run = operands.api("POST", "/automation/over-budget/test", {"deal": deal}, claims=ADMIN)
    assert status == 200, run
    [check] = [s for s in run["steps"] if s["detail"].get("conditions")]
    [seen] = check["detail"]["conditions"]
    assert seen["value"] == {"field": "budget"} and Decimal(seen["resolved"]) == 40000 and seen["result"] is True
    assert operands.notifications() == []  # nothing sent


def test_operands_that_cannot_work_are_422s_naming_both_sides(operands: MotoStack) -> None:
    number_vs_text = _rule("bad", {"field": "amount", "op": "gte", "value": {"const": "crm_url"}})
    assert _problems(operands, number_vs_text) == {
        "condition.value.const": "field 'amount' is a number field and constant 'crm_url' is text: "
        "they cannot be compared"
    }
    date_vs_number = _rule("bad", {"field": "proposal_sent_on", "op": "lt", "value": {"field": "budget"}})
    assert _problems(operands, date_vs_number) == {
        "condition.value.field": "field 'proposal_sent_on' is a date field and field 'budget' is a number field: "
        "they cannot be compared"
    }
    unknown = _rule(
        "bad",
        {
            "any": [
                {"field": "amount", "op": "gt", "value": {"const": "ceiling"}},
                {"field": "amount", "op": "gt", "value": {"var": "floor"}},
            ]
        },
    )
    assert _problems(operands, unknown) == {
        "condition.any.0.value.const": "no constant 'ceiling' in this tenant",
        "condition.any.1.value.var": "no variable 'floor' in this tenant or process",
    }
    template = _rule("bad", {"field": "amount", "op": "gte", "value": "{{ const.min_amount }}"})
    problem = _problems(operands, template)["condition.value"]
    assert 'write {"const": "min_amount"}' in problem
    assert operands.api("GET", "/automation/bad", claims=ADMIN)[0] == 404  # nothing was written


def test_deleting_a_constant_an_operand_reads_flags_the_rule(operands: MotoStack) -> None:
    status, deleted = operands.api("DELETE", "/constants/min_amount", claims=ADMIN)
    assert status == 200, deleted
    [broken] = deleted["broken_automation"]
    assert broken["id"] == "over-min"
    assert broken["warnings"] == ["constant 'min_amount' no longer exists (condition.value.const)"]


# --- business processes ----------------------------------------------------------------------------


@pytest.fixture
def globex() -> Iterator[MotoStack]:
    with MotoStack() as local:
        set_up_process_tenant(local)
        yield local


def test_a_process_branches_on_a_variable_and_on_another_field(globex: MotoStack) -> None:
    process = BusinessProcess.model_validate(
        {
            "id": "p",
            "name": "Size it",
            "start_on": ["manual"],
            "parameters": {"threshold": {"type": "number", "value": 10000}},
            "nodes": [
                {
                    "kind": "condition",
                    "name": "size",
                    "branches": [
                        {
                            "name": "over the threshold",
                            "condition": {"field": "amount", "op": "gt", "value": {"var": "threshold"}},
                            "nodes": [{"kind": "action", "action": {"kind": "create_task", "title": "big"}}],
                        },
                    ],
                    "otherwise": [{"kind": "action", "action": {"kind": "create_task", "title": "small"}}],
                },
                {"kind": "set_variable", "variable": "title_again", "expression": "deal.title"},
                {
                    "kind": "condition",
                    "name": "same title",
                    "branches": [
                        {
                            "name": "yes",
                            "condition": {"field": "title", "op": "equals", "value": {"var": "title_again"}},
                            "nodes": [{"kind": "action", "action": {"kind": "create_task", "title": "titled"}}],
                        }
                    ],
                },
            ],
        }
    )
    globex.put_automation(PROCESS_TENANT, process)
    globex.create_deal(
        demo_deal("m-1", "Deal m-1", "12500.00", "services").model_copy(update={"tenant_id": PROCESS_TENANT})
    )
    globex.drain()

    run_id = globex.start_process(PROCESS_TENANT, "p", "m-1", parameters={"threshold": 20000})
    globex.drain()
    run_id_2 = globex.start_process(PROCESS_TENANT, "p", "m-1")
    globex.drain()

    runs = {r.run_id: r for r in globex.runs_of(PROCESS_TENANT, "p")}
    assert runs[run_id].status == runs[run_id_2].status == "completed"
    assert sorted(t["title"] for t in globex.tasks(PROCESS_TENANT)) == ["big", "small", "titled", "titled"]
    [size] = [s for s in runs[run_id].steps if s.name == "size"]
    assert size.outcome == "otherwise"
    [seen] = size.detail["branches"][0]["conditions"]
    assert seen["value"] == {"var": "threshold"} and Decimal(seen["resolved"]) == 20000 and seen["result"] is False
