"""What automation names and what it writes: the stages it sends deals to and the fields it sets, as
the loop check, copy and move, the save-time check and the author's rights all see them."""

from __future__ import annotations

from typing import Any

from dealflow.authoring.checks import AUTOMATION
from dealflow.authoring.loops import find_loops
from dealflow.authoring.moves import Target, retarget
from dealflow.engine.compiled import AutomationIndex, TenantAutomation
from dealflow.engine.references import references_of, writes_of
from dealflow.language.templates import WHOLE_DEAL
from dealflow.model import Pipeline, Stage, Tenant
from dealflow.policy.access import fields_read


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
