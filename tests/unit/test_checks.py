"""The check before automation or a deal is written: every reference that does not resolve is a
422 problem naming the field as its author wrote it, all of them at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dealflow.authoring.checks import check_automation, check_deal
from dealflow.http_errors import Invalid
from tests.fakes import a_rule, automation_of, compiled_tenant

KNOWN = compiled_tenant()
NOTIFY = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}


def _refused(automation: Any) -> dict[str, str]:
    with pytest.raises(Invalid) as exc:
        check_automation(automation, KNOWN)
    return {p["field"]: p["problem"] for p in exc.value.problems}


def _deal_refused(**write: Any) -> dict[str, str]:
    with pytest.raises(Invalid) as exc:
        check_deal(KNOWN, **write)
    return {p["field"]: p["problem"] for p in exc.value.problems}


def _process(*nodes: dict[str, Any], **body: Any) -> Any:
    return automation_of(kind="business_process", id="p", name="P", start_on=["change"], nodes=list(nodes), **body)


def test_automation_whose_references_resolve_is_accepted() -> None:
    for automation in KNOWN.by_id.values():
        check_automation(automation, KNOWN)
    rule = a_rule(
        "full",
        {"kind": "move_to_stage", "stage_id": "negotiation"},
        {"kind": "copy_to_pipeline", "pipeline_id": "delivery", "stage_id": "kickoff"},
        {"kind": "update_fields", "values": {"budget": {"expression": "deal.amount * const.tax_rate"}}},
        {"kind": "create_task", "title": "Call {{ deal.contact.name }}", "assignee_id": "u-anna"},
        {"kind": "create_workgroup", "name": "{{ deal.region }}", "owner_id": "u-head", "members": ["u-piotr"]},
        condition={"all": [{"field": "title", "op": "is_not_empty"}, {"field": "budget", "op": "gt", "value": 5}]},
        delay={"days": -1, "relative_to_field": "proposal_sent_on"},
    )
    check_automation(rule, KNOWN)


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"pipeline_id": "nowhere"}, "pipeline_id", "no pipeline 'nowhere' in this tenant"),
        ({"stage_id": "closed"}, "stage_id", "no stage 'closed' in pipeline 'sales'"),
        (
            {"condition": {"field": "budgett", "op": "equals", "value": 1}},
            "condition.field",
            "no field 'budgett' (neither a standard deal field nor a custom field of this tenant)",
        ),
        (
            {"condition": {"any": [{"field": "title", "op": "is_empty"}, {"field": "region", "op": "gt", "value": 1}]}},
            "condition.any.1.field",
            "field 'region' is a text field now; 'gt' needs a number or date field",
        ),
        (
            {"delay": {"days": 1, "relative_to_field": "budget"}},
            "delay.relative_to_field",
            "field 'budget' is a number field now; a delay needs a date field",
        ),
    ],
)
def test_a_rule_in_the_wrong_place_or_testing_a_wrong_field_is_refused(
    changes: dict[str, Any], field: str, problem: str
) -> None:
    assert _refused(a_rule("r", NOTIFY, **changes)) == {field: problem}


def test_a_stage_of_a_missing_pipeline_is_not_reported_twice() -> None:
    assert set(_refused(a_rule("r", NOTIFY, pipeline_id="nowhere", stage_id="won"))) == {"pipeline_id"}


@pytest.mark.parametrize(
    ("action", "field", "problem"),
    [
        (
            {"kind": "move_to_stage", "stage_id": "kickoff"},
            "actions.0.stage_id",
            "no stage 'kickoff' in pipeline 'sales'",
        ),
        (
            {"kind": "copy_to_pipeline", "pipeline_id": "archive", "stage_id": "kickoff"},
            "actions.0.pipeline_id",
            "no pipeline 'archive' in this tenant",
        ),
        (
            {"kind": "move_to_pipeline", "pipeline_id": "delivery", "stage_id": "won"},
            "actions.0.stage_id",
            "no stage 'won' in pipeline 'delivery'",
        ),
        (
            {"kind": "update_fields", "values": {"title": {"value": "x"}, "score": {"value": 1}}},
            "actions.0.values.score",
            "no field 'score' (neither a standard deal field nor a custom field of this tenant)",
        ),
        (
            {"kind": "update_fields", "values": {"budget": {"expression": "deal.amount * const.vat"}}},
            "actions.0.values.budget.expression",
            "no constant 'vat' in this tenant",
        ),
        (
            {**NOTIFY, "to": {"users": ["u-head", "u-ghost"]}},
            "actions.0.to.users.1",
            "no user 'u-ghost' in this tenant",
        ),
        ({**NOTIFY, "message": "{{ deal.regoin }}"}, "actions.0.message", "no field 'regoin' (neither a"),
        ({**NOTIFY, "message": "{{ const.nowhere }}/{{ deal.id }}"}, "actions.0.message", "no constant 'nowhere'"),
        (
            {"kind": "create_task", "title": "Call", "assignee_id": "u-gone"},
            "actions.0.assignee_id",
            "no user 'u-gone'",
        ),
        ({"kind": "create_workgroup", "name": "W", "owner_id": "u-gone"}, "actions.0.owner_id", "no user 'u-gone'"),
        ({"kind": "create_workgroup", "name": "W", "members": ["u-pm"]}, "actions.0.members.0", "no user 'u-pm'"),
    ],
)
def test_an_action_naming_what_the_tenant_lacks_is_refused_at_its_path(
    action: dict[str, Any], field: str, problem: str
) -> None:
    problems = _refused(a_rule("r", action))
    assert list(problems) == [field]
    assert problems[field].startswith(problem)


def test_every_problem_of_one_automation_is_named_at_once() -> None:
    rule = a_rule(
        "r",
        {"kind": "move_to_stage", "stage_id": "done"},
        {**NOTIFY, "to": {"users": ["u-ghost"]}, "message": "{{ const.nowhere }}"},
        stage_id="closed",
        condition={"field": "score", "op": "is_empty"},
    )
    assert set(_refused(rule)) == {
        "stage_id",
        "condition.field",
        "actions.0.stage_id",
        "actions.1.to.users.0",
        "actions.1.message",
    }


def test_a_tunnel_and_a_trigger_are_checked_where_they_lead_and_what_they_watch() -> None:
    tunnel = automation_of(
        kind="tunnel",
        id="t",
        name="T",
        pipeline_id="sales",
        stage_id="won",
        target_pipeline_id="delivery",
        target_stage_id="delivered",
        mode="move",
    )
    assert _refused(tunnel) == {"target_stage_id": "no stage 'delivered' in pipeline 'delivery'"}
    assert _refused(tunnel.model_copy(update={"target_pipeline_id": "archive"})) == {
        "target_pipeline_id": "no pipeline 'archive' in this tenant"
    }
    trigger = automation_of(
        kind="trigger", id="g", name="G", pipeline_id="sales", stage_id="won", event="field_changed", field="scor"
    )
    assert list(_refused(trigger)) == ["field"]


def test_a_business_process_is_checked_in_every_branch_and_loop() -> None:
    process = _process(
        {
            "kind": "condition",
            "branches": [
                {
                    "name": "won",
                    "condition": {"field": "stage_id", "op": "changed_to", "value": "won"},
                    "nodes": [
                        {
                            "kind": "loop",
                            "while": {"all": [{"field": "score", "op": "lt", "value": 3}]},
                            "nodes": [{"kind": "delay", "delay": {"days": 1, "relative_to_field": "closing"}}],
                        }
                    ],
                }
            ],
            "otherwise": [{"kind": "action", "action": {**NOTIFY, "to": {"users": ["u-ghost"]}}}],
        },
        {"kind": "set_variable", "variable": "v", "expression": "const.nowhere"},
        pipeline_id="sales",
    )
    assert set(_refused(process)) == {
        "nodes.0.branches.0.nodes.0.while.all.0.field",
        "nodes.0.branches.0.nodes.0.nodes.0.delay.relative_to_field",
        "nodes.0.otherwise.0.action.to.users.0",
        "nodes.1.expression",
    }


def test_a_business_process_may_only_name_a_pipeline_of_its_own_entity() -> None:
    notify = {"kind": "action", "action": NOTIFY}
    assert _refused(_process(notify, pipeline_id="leads")) == {"pipeline_id": "pipeline 'leads' holds leads, not deals"}
    check_automation(_process(notify, pipeline_id="leads", entity="lead"), KNOWN)
    assert _refused(_process(notify, pipeline_id="archive")) == {"pipeline_id": "no pipeline 'archive' in this tenant"}


def test_a_refused_template_is_named_once_not_also_for_what_it_reads() -> None:
    problems = _refused(a_rule("r", {**NOTIFY, "message": "{{ deal.nope }}{{ ''.__class__ }}"}))
    assert list(problems) == ["actions.0.message"]
    assert "reaches Python internals" in problems["actions.0.message"]


def test_a_deal_write_is_checked_where_it_goes_who_owns_it_and_what_it_holds() -> None:
    check_deal(
        KNOWN,
        place=("deal", "sales", "new"),
        responsible_id="u-anna",
        fields={"what_we_sell": "services", "region": "north", "budget": None},
    )
    assert _deal_refused(place=("deal", "sales", "kickoff")) == {"stage_id": "no stage 'kickoff' in pipeline 'sales'"}
    assert _deal_refused(place=("deal", "archive", "new")) == {"pipeline_id": "no pipeline 'archive' in this tenant"}
    assert _deal_refused(place=("deal", "leads", "new")) == {"pipeline_id": "pipeline 'leads' holds leads, not deals"}
    assert _deal_refused(place=("lead", "sales", "new")) == {"pipeline_id": "pipeline 'sales' holds deals, not leads"}
    assert _deal_refused(responsible_id="u-ghost") == {"responsible_id": "no user 'u-ghost' in this tenant"}
    assert _deal_refused(fields={"regoin": "north", "what_we_sell": "hardware"}) == {
        "fields.regoin": "no custom field 'regoin' in this tenant",
        "fields.what_we_sell": 'expected one of services, products; got "hardware"',
    }


def test_a_deal_write_holds_values_its_fields_kinds_can_hold() -> None:
    assert _deal_refused(fields={"budget": "lots", "proposal_sent_on": "next Friday", "region": {"a": 1}}) == {
        "fields.budget": 'expected a number, got "lots"',
        "fields.proposal_sent_on": 'expected a date (YYYY-MM-DD), got "next Friday"',
        "fields.region": 'expected text, got {"a": 1}',
    }
    held = check_deal(KNOWN, fields={"budget": "12500.00", "proposal_sent_on": "2026-12-04", "region": None})
    assert held == {"budget": Decimal("12500.00"), "proposal_sent_on": "2026-12-04", "region": None}


def test_automation_setting_a_field_to_a_value_it_cannot_hold_is_refused_where_it_says_so() -> None:
    rule = a_rule("r", {"kind": "update_fields", "values": {"budget": {"value": "lots"}, "region": {"value": "x"}}})
    assert _refused(rule) == {"actions.0.values.budget.value": 'expected a number, got "lots"'}
    process = _process(
        {"kind": "action", "action": {"kind": "update_fields", "values": {"what_we_sell": {"value": "hardware"}}}}
    )
    assert _refused(process) == {
        "nodes.0.action.values.what_we_sell.value": 'expected one of services, products; got "hardware"'
    }


def test_a_deal_cannot_be_sent_into_a_lead_pipeline_nor_a_lead_into_a_deal_pipeline() -> None:
    # The engine refuses such a copy or move when it runs (a deal is never a lead): every run of the
    # automation would fail, so it is refused when saved, naming the pipeline.
    tunnel = automation_of(
        kind="tunnel",
        id="t",
        name="T",
        pipeline_id="sales",
        stage_id="won",
        target_pipeline_id="leads",
        target_stage_id="need_satisfied",
        mode="copy",
    )
    assert _refused(tunnel) == {"target_pipeline_id": "pipeline 'leads' holds leads, not deals"}
    copy = {"kind": "copy_to_pipeline", "pipeline_id": "sales", "stage_id": "new"}
    assert _refused(a_rule("r", copy, pipeline_id="leads", stage_id="qualified")) == {
        "actions.0.pipeline_id": "pipeline 'sales' holds deals, not leads"
    }
    move = {"kind": "action", "action": {"kind": "move_to_pipeline", "pipeline_id": "leads", "stage_id": "new"}}
    assert _refused(_process(move)) == {"nodes.0.action.pipeline_id": "pipeline 'leads' holds leads, not deals"}
    check_automation(_process(move, entity="lead"), KNOWN)
