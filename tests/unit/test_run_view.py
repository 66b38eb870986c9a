"""The run log through a role's column rights: hidden values read "(hidden)", never blank, never shown."""

from __future__ import annotations

from typing import Any

from dealflow.model import Role, RunRecord
from dealflow.model.access import RoleRights
from dealflow.model.catalog import Automation
from dealflow.model.run import RunStep
from dealflow.policy.access import Access
from dealflow.policy.run_view import run_view
from tests.fakes import a_tenant

BUDGET_HIDDEN = {Role.SALES_REP: RoleRights.model_validate({"deals": {"fields": {"budget": "hidden"}}})}


def _access(role: Role) -> Access:
    return Access.of(a_tenant(rights=BUDGET_HIDDEN), ["budget", "region"], role, "deal")


def _run(*steps: RunStep) -> RunRecord:
    return RunRecord(
        tenant_id="acme",
        run_id="r-1",
        automation_id="set-budget",
        automation_name="Set budget",
        automation_kind="rule",
        deal_id="d-1",
        event_id="e-1",
        started_by={},
        status="completed",
        steps=list(steps),
        started_at="2026-12-01T10:00:00Z",
    )


def _rule(message: str) -> Automation:
    from dealflow.model import Rule

    return Rule.model_validate(
        {
            "id": "set-budget",
            "name": "Set budget",
            "pipeline_id": "sales",
            "stage_id": "won",
            "actions": [
                {"kind": "update_fields", "values": {"budget": {"value": 5}, "region": {"value": "EU"}}},
                {"kind": "notify", "to": {"users": ["u-head"]}, "message": message},
            ],
        }
    )


CHANGED = {"field": "budget", "op": "changed_from", "value": 1, "actual": 9, "before": 1, "result": True}
REGION = {"field": "region", "op": "equals", "value": "EU", "actual": "EU", "result": True}


def _steps() -> list[RunStep]:
    return [
        RunStep(name="condition", kind="check", outcome="met", detail={"conditions": [CHANGED, REGION]}),
        RunStep(name="actions.0", kind="action", outcome="done", detail={"values": {"budget": "5", "region": "EU"}}),
        RunStep(name="actions.1", kind="action", outcome="done", detail={"message": "Budget 5", "users": ["u-head"]}),
    ]


def _details(run: RunRecord) -> list[dict[str, Any]]:
    return [s.detail for s in run.steps]


def test_a_hidden_field_reads_hidden_in_traces_values_and_texts_that_read_it() -> None:
    run = _run(*_steps())
    trace, values, note = _details(run_view(run, [_access(Role.SALES_REP)], _rule("Budget {{ deal.budget }}")))
    assert trace["conditions"] == [
        {**CHANGED, "actual": "(hidden)", "before": "(hidden)", "hidden": True},
        REGION,
    ]
    assert values["values"] == {"budget": "(hidden)", "region": "(hidden)"}  # the rule's texts read budget
    assert note["message"] == "(hidden)" and note["hidden"] is True and note["users"] == ["u-head"]

    # A rule whose texts read nothing hidden keeps its texts and the readable values.
    _, values, note = _details(run_view(run, [_access(Role.SALES_REP)], _rule("Region {{ deal.region }}")))
    assert values == {"values": {"budget": "(hidden)", "region": "EU"}, "hidden_fields": ["budget"]}
    assert note["message"] == "Budget 5"

    # Deleted automation: nothing tells what its texts read, so they are hidden from a restricted role.
    assert _details(run_view(run, [_access(Role.SALES_REP)], None))[2]["message"] == "(hidden)"
    # Roles that see everything see the run as it was written.
    assert run_view(run, [_access(Role.SALES_MANAGER)], None) == run
