"""What automation names and what it writes: the stages it sends deals to and the fields it sets, as
the loop check, copy and move, the save-time check and the author's rights all see them."""

from __future__ import annotations

from typing import Any

from dealflow.authoring.checks import AUTOMATION
from dealflow.authoring.loops import find_loops
from dealflow.authoring.moves import Target, retarget
from dealflow.engine.compiled import AutomationIndex, TenantAutomation, refresh
from dealflow.engine.references import Reference, broken, references_of
from dealflow.engine.writes import writes_of
from dealflow.language.templates import WHOLE_DEAL
from dealflow.model import Pipeline, Stage, Tenant
from dealflow.policy.access import fields_read
from tests.fakes import a_rule, a_tenant, automation_of, compiled_tenant, some_fields, some_pipelines


def _automation(**body: Any) -> Any:
    return AUTOMATION.validate_python(body)


def _rule(*actions: dict[str, Any], **changes: Any) -> Any:
    body = {
        "kind": "rule",
        "id": "r1",
        "name": "R",
        "pipeline_id": "sales",
        "stage_id": "won",
        "actions": list(actions),
    }
    return _automation(**{**body, **changes})


def _writes(automation: Any) -> list[tuple[str, str | None, str, str]]:
    return [(w.kind, w.pipeline_id, w.name, w.at) for w in writes_of(automation)]


def test_what_a_rule_writes() -> None:
    rule = _rule(
        {"kind": "move_to_stage", "stage_id": "done"},
        {"kind": "copy_to_pipeline", "pipeline_id": "delivery", "stage_id": "kickoff"},
        {"kind": "update_fields", "values": {"amount": {"value": 1}, "sells": {"expression": "deal.sells"}}},
        {"kind": "notify", "to": {"users": ["u1"]}, "message": "hi"},
    )
    assert _writes(rule) == [
        ("stage", "sales", "done", "actions.0.stage_id"),
        ("stage", "delivery", "kickoff", "actions.1.stage_id"),
        ("field", "sales", "amount", "actions.2.values.amount"),
        ("field", "sales", "sells", "actions.2.values.sells"),
    ]


def test_what_tunnels_triggers_and_processes_write() -> None:
    tunnel = _automation(
        kind="tunnel",
        id="t",
        name="T",
        pipeline_id="sales",
        stage_id="won",
        target_pipeline_id="delivery",
        target_stage_id="kickoff",
        mode="move",
    )
    trigger = _automation(kind="trigger", id="g", name="G", pipeline_id="sales", stage_id="won", event="invoice_paid")
    process = _automation(
        kind="business_process",
        id="p",
        name="P",
        start_on=["change"],
        pipeline_id="sales",
        nodes=[
            {
                "kind": "loop",
                "while": {"field": "amount", "op": "gt", "value": 1},
                "nodes": [{"kind": "action", "action": {"kind": "move_to_stage", "stage_id": "won"}}],
            }
        ],
    )
    assert _writes(tunnel) == [("stage", "delivery", "kickoff", "target_stage_id")]
    assert _writes(trigger) == [("stage", "sales", "won", "stage_id")]
    assert _writes(process) == [("stage", "sales", "won", "nodes.0.nodes.0.action.stage_id")]


def test_loops_are_found_through_what_automation_writes() -> None:
    there = _rule({"kind": "move_to_stage", "stage_id": "lost"}, id="there")
    back = _rule({"kind": "move_to_stage", "stage_id": "won"}, id="back", stage_id="lost")
    stays = _rule({"kind": "move_to_stage", "stage_id": "won"}, id="stays")  # already there: starts nothing
    [loop] = find_loops([there, back, stays])
    assert loop.members == ["back", "there"]
    assert find_loops([stays]) == []


def test_a_stage_move_follows_the_stage_map_into_another_pipeline() -> None:
    delivery = Pipeline(id="delivery", name="Delivery", stages=[Stage(id="start", name="S"), Stage(id="end", name="E")])
    known = TenantAutomation(
        tenant=Tenant(id="t1", name="T"),
        pipelines={"delivery": delivery},
        fields={},
        index=AutomationIndex([]),
        version=1,
    )
    rule = _rule(
        {"kind": "move_to_stage", "stage_id": "done"}, {"kind": "update_fields", "values": {"a": {"value": 1}}}
    )
    moved = retarget(rule, Target(pipeline_id="delivery", stage_map={"won": "start", "done": "end"}), known)
    assert (moved.pipeline_id, moved.stage_id, moved.actions[0].stage_id) == ("delivery", "start", "end")


def test_what_automation_reads_includes_template_reads_and_written_fields() -> None:
    rule = _rule(
        {"kind": "notify", "to": {"users": ["u1"]}, "message": "{{ deal }} {{ const.crm_url }} {{ deal.get('x') }}"},
        {"kind": "update_fields", "values": {"budget": {"expression": "deal.amount * 2"}}},
        condition={"field": "company", "op": "is_not_empty"},
    )
    assert [(u.field, u.at) for u in fields_read(rule)] == [
        ("company", "condition.field"),
        (WHOLE_DEAL, "actions.0.message"),
        ("amount", "actions.1.values.budget.expression"),
        ("budget", "actions.1.values.budget"),
    ]
    assert ("constant", "crm_url", "actions.0.message") in [(r.kind, r.name, r.at) for r in references_of(rule)]


# --- which automation a deleted or changed definition breaks -------------------------------------------------


def _budget_automation() -> list[Any]:
    """Three uses of the custom field ``budget``: a rule's condition, a process branch, a template."""
    notify = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}
    return [
        a_rule("big-budget", notify, condition={"all": [{"field": "budget", "op": "gt", "value": 1000}]}),
        automation_of(
            kind="business_process",
            id="budget-check",
            name="Budget check",
            start_on=["change"],
            nodes=[
                {
                    "kind": "condition",
                    "branches": [
                        {
                            "name": "has budget",
                            "condition": {"field": "budget", "op": "is_not_empty"},
                            "nodes": [{"kind": "action", "action": notify}],
                        }
                    ],
                }
            ],
        ),
        a_rule("proposal-note", {**notify, "message": "Budget: {{ deal.budget }}"}, stage_id="proposal"),
    ]


def test_a_deleted_field_flags_every_automation_that_used_it_where_it_did() -> None:
    fields = [f for f in some_fields() if f.code != "budget"]

    known = compiled_tenant(fields=fields, automation=_budget_automation())

    assert known.warnings == {
        "big-budget": ["field 'budget' no longer exists (condition.all.0.field)"],
        "budget-check": ["field 'budget' no longer exists (nodes.0.branches.0.condition.field)"],
        "proposal-note": ["field 'budget' no longer exists (actions.0.message)"],
    }
    assert compiled_tenant(automation=_budget_automation()).warnings == {}


def test_a_field_changing_kind_flags_only_comparisons_it_no_longer_fits() -> None:
    fields = [f.model_copy(update={"kind": "text"}) if f.code == "budget" else f for f in some_fields()]

    known = compiled_tenant(fields=fields, automation=_budget_automation())

    assert known.warnings == {
        "big-budget": ["field 'budget' is a text field now; 'gt' needs a number or date field (condition.all.0.field)"]
    }


def test_a_deleted_pipeline_or_stage_flags_what_leads_there() -> None:
    pipelines = [p for p in some_pipelines() if p.id != "delivery"]
    sales = next(p for p in pipelines if p.id == "sales")
    without_lost = sales.model_copy(update={"stages": [s for s in sales.stages if s.id != "lost"]})

    known = compiled_tenant(pipelines=[without_lost, *(p for p in pipelines if p.id != "sales")])

    assert known.warnings == {
        "won-to-delivery": ["pipeline 'delivery' no longer exists (target_pipeline_id)"],
        "lost-email": ["stage 'lost' no longer exists in pipeline 'sales' (stage_id)"],
    }


def test_users_and_constants_are_checked_against_the_tenant_as_it_is_now() -> None:
    known = compiled_tenant()
    assert known.warnings == {}
    tenant = known.tenant
    without = tenant.model_copy(update={"users": [u for u in tenant.users if u.id != "u-anna"], "constants": {}})

    assert refresh(known, without).warnings == {
        "lost-email": [
            "user 'u-anna' no longer exists (actions.0.to.users.1)",
            "constant 'crm_url' no longer exists (actions.0.body)",
        ]
    }
    assert refresh(known, tenant).warnings == {}


def test_only_the_kinds_whose_owner_is_given_are_checked() -> None:
    refs = [
        Reference("pipeline", "gone", "pipeline_id"),
        Reference("stage", "gone", "stage_id", pipeline_id="gone"),
        Reference("stage", "closed", "actions.0.stage_id", pipeline_id="sales"),
        Reference("field", "nope", "condition.field"),
        Reference("field", "title", "condition.any.0.field"),
        Reference("user", "u-ghost", "actions.1.to.users.0"),
        Reference("constant", "nowhere", "actions.1.message"),
    ]
    tenant = a_tenant()
    pipelines = {p.id: p for p in some_pipelines()}
    fields = {f.code: f for f in some_fields()}

    assert [b.reference.at for b in broken(refs, pipelines)] == ["pipeline_id", "actions.0.stage_id"]
    assert [b.reference.at for b in broken(refs, fields=fields)] == ["condition.field"]
    assert [b.problem for b in broken(refs, tenant=tenant)] == [
        "no user 'u-ghost' in this tenant",
        "no constant 'nowhere' in this tenant",
    ]
    assert broken(refs) == []


def test_what_a_trigger_watches_and_a_delay_waits_for_are_references() -> None:
    trigger = _automation(
        kind="trigger", id="g", name="G", pipeline_id="sales", stage_id="won", event="field_changed", field="budget"
    )
    notify = {"kind": "notify", "to": {"users": ["u1"]}, "message": "hi"}
    delayed = _rule(notify, delay={"days": -1, "relative_to_field": "due_on"})

    assert [(r.kind, r.name, r.at) for r in references_of(trigger)] == [
        ("pipeline", "sales", "pipeline_id"),
        ("stage", "won", "stage_id"),
        ("field", "budget", "field"),
    ]
    assert ("field", "due_on", "delay.relative_to_field", "date") in [
        (r.kind, r.name, r.at, r.op) for r in references_of(delayed)
    ]
