"""Deleting or changing what automation references flags that automation (never deletes it); the
dispatcher skips flagged automation and says so in the run log. Pipelines and fields are
versioned, and a pipeline or stage holding deals cannot go."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, demo_tenant

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
BUDGET = {"code": "budget", "name": "Budget", "kind": "number"}


def _notify(message: str) -> dict[str, Any]:
    return {"kind": "notify", "to": {"users": ["u-head"]}, "message": message}


def _budget_automation(stack: MotoStack) -> None:
    """Three kinds of use of the field: a rule's condition, a process node, a template."""
    assert stack.api("PUT", "/fields/budget", BUDGET, claims=ADMIN)[0] == 201
    automations = [
        {
            "kind": "rule",
            "id": "big-budget",
            "name": "Big budget in negotiation",
            "pipeline_id": "sales",
            "stage_id": "negotiation",
            "condition": {"all": [{"field": "budget", "op": "gt", "value": 1000}]},
            "actions": [_notify("{{ deal.title }} negotiating")],
        },
        {
            "kind": "business_process",
            "id": "budget-check",
            "name": "Budget check",
            "start_on": ["change"],
            "nodes": [
                {
                    "kind": "condition",
                    "branches": [
                        {
                            "name": "has budget",
                            "condition": {"field": "budget", "op": "is_not_empty"},
                            "nodes": [{"kind": "action", "action": _notify("{{ deal.title }} has a budget")}],
                        }
                    ],
                }
            ],
        },
        {
            "kind": "rule",
            "id": "proposal-note",
            "name": "Proposal note",
            "pipeline_id": "sales",
            "stage_id": "proposal",
            "actions": [_notify("Budget of {{ deal.title }}: {{ deal.budget }}")],
        },
    ]
    for automation in automations:
        status, body = stack.api("PUT", f"/automation/{automation['id']}", automation, claims=ADMIN)
        assert status in (200, 201), body


def test_deleting_a_field_flags_every_automation_that_used_it(stack: MotoStack) -> None:
    _budget_automation(stack)

    status, body = stack.api("DELETE", "/fields/budget", claims=ADMIN)

    assert status == 200 and body["deleted"] == "budget"
    assert {b["id"]: b["warnings"] for b in body["broken_automation"]} == {
        "big-budget": ["field 'budget' no longer exists (condition.all.0.field)"],
        "budget-check": ["field 'budget' no longer exists (nodes.0.branches.0.condition.field)"],
        "proposal-note": ["field 'budget' no longer exists (actions.0.message)"],
    }
    status, body = stack.api("GET", "/warnings", claims=ADMIN)
    assert status == 200
    assert {i["automation_id"]: i["kind"] for i in body["items"]} == {
        "big-budget": "rule",
        "budget-check": "business_process",
        "proposal-note": "rule",
    }
    status, body = stack.api("GET", "/automation", claims=ADMIN, query={"broken": "true"})
    assert [a["id"] for a in body["items"]] == ["big-budget", "budget-check", "proposal-note"]
    assert stack.api("GET", "/automation/big-budget", claims=ADMIN)[0] == 200  # flagged, not deleted

    # Defining the field again clears the flags.
    assert stack.api("PUT", "/fields/budget", BUDGET, claims=ADMIN)[0] == 201
    assert stack.api("GET", "/warnings", claims=ADMIN)[1]["items"] == []


def test_a_flagged_rule_is_skipped_and_the_run_log_says_what_is_missing(stack: MotoStack) -> None:
    _budget_automation(stack)
    stack.api("DELETE", "/fields/budget", claims=ADMIN)

    stack.create_deal(demo_deal("d-1", "Tender", "50000.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    assert stack.notifications() == []
    [skip] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "big-budget"]
    assert skip.status == "skipped"
    assert skip.reason == "broken references: field 'budget' no longer exists (condition.all.0.field)"
    status, body = stack.api("GET", "/automation/big-budget/runs", claims=ADMIN)
    assert status == 200 and [r["status"] for r in body["items"]] == ["skipped"]


def test_a_field_kind_change_that_breaks_a_comparison_is_flagged(stack: MotoStack) -> None:
    _budget_automation(stack)

    status, body = stack.api("PUT", "/fields/budget", {**BUDGET, "kind": "text"}, claims=ADMIN)

    assert status == 200 and body["version"] == 2
    assert [(b["id"], b["warnings"]) for b in body["broken_automation"]] == [
        (
            "big-budget",
            ["field 'budget' is a text field now; 'gt' needs a number or date field (condition.all.0.field)"],
        )
    ]
    status, body = stack.api("PUT", "/fields/budget", BUDGET, claims=ADMIN)  # version 1 again: stale
    assert status == 409 and body["error"] == "conflict" and body["current_version"] == 2


def test_users_and_constants_removed_from_the_tenant_flag_automation_at_once(stack: MotoStack) -> None:
    tenant = demo_tenant()
    stack.put_tenant(
        tenant.model_copy(update={"users": [u for u in tenant.users if u.id != "u-anna"], "constants": {}})
    )

    [lost] = [i for i in stack.api("GET", "/warnings", claims=ADMIN)[1]["items"] if i["automation_id"] == "lost-email"]
    assert lost["warnings"] == [
        "user 'u-anna' no longer exists (actions.0.to.users.1)",
        "constant 'crm_url' no longer exists (actions.0.body)",
    ]


def test_automation_naming_a_missing_constant_is_refused(stack: MotoStack) -> None:
    rule = {
        "kind": "rule",
        "id": "link",
        "name": "Link",
        "pipeline_id": "sales",
        "stage_id": "won",
        "actions": [_notify("{{ const.nowhere }}/{{ deal.id }}")],
    }
    status, body = stack.api("PUT", "/automation/link", rule, claims=ADMIN)
    assert status == 422
    assert body["problems"] == [{"field": "actions.0.message", "problem": "no constant 'nowhere' in this tenant"}]


def test_a_pipeline_or_stage_holding_deals_cannot_go(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Tender", "100.00", "services"))
    stack.create_deal(demo_deal("d-2", "Audit", "100.00", "services"))
    sales = stack.api("GET", "/pipelines/sales", claims=ADMIN)[1]

    status, body = stack.api("DELETE", "/pipelines/sales", claims=ADMIN)
    assert status == 409 and "still holds 2 deal(s): 2 in stage 'new'" in body["reason"]
    without_new = {**sales, "stages": [s for s in sales["stages"] if s["id"] != "new"]}
    status, body = stack.api("PUT", "/pipelines/sales", without_new, claims=ADMIN)
    assert status == 409 and body["items"] == 2
    assert stack.api("GET", "/pipelines/sales", claims=ADMIN)[1]["stages"] == sales["stages"]  # nothing written


def test_deleting_a_pipeline_names_the_automation_it_broke(stack: MotoStack) -> None:
    status, body = stack.api("DELETE", "/pipelines/delivery", claims=ADMIN)

    assert status == 200 and body["deleted"] == "delivery"
    assert [(b["id"], b["warnings"]) for b in body["broken_automation"]] == [
        ("won-to-delivery", ["pipeline 'delivery' no longer exists (target_pipeline_id)"])
    ]
    assert stack.api("GET", "/pipelines/delivery", claims=ADMIN)[0] == 404


def test_pipeline_writes_are_versioned(stack: MotoStack) -> None:
    sales = stack.api("GET", "/pipelines/sales", claims=ADMIN)[1]
    renamed = {**sales, "name": "New business (EU)"}

    status, body = stack.api("PUT", "/pipelines/sales", renamed, claims=ADMIN)
    assert status == 200 and body["version"] == 2 and body["broken_automation"] == []
    status, body = stack.api("PUT", "/pipelines/sales", {**renamed, "name": "Stale"}, claims=ADMIN)
    assert status == 409 and body["current_version"] == 2
    assert stack.api("GET", "/pipelines/sales", claims=ADMIN)[1]["name"] == "New business (EU)"


def _broken(body: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {b["id"]: (b["kind"], b["warnings"]) for b in body["broken_automation"]}


def test_deleting_a_field_or_a_step_names_the_field_step_workflow_it_broke(stack: MotoStack) -> None:
    sales = stack.api("GET", "/pipelines/sales", claims=ADMIN)[1]
    without_step = {
        **sales,
        "stages": [{**s, "steps": [p for p in s["steps"] if p["id"] != "send_proposal"]} for s in sales["stages"]],
    }
    status, body = stack.api("PUT", "/pipelines/sales", without_step, claims=ADMIN)
    assert status == 200, body
    assert _broken(body)["proposal-sent"] == (
        "field_step_workflow",
        ["step 'send_proposal' no longer exists in pipeline 'sales'"],
    )

    status, body = stack.api("DELETE", "/fields/proposal_sent_on", claims=ADMIN)
    assert status == 200, body
    assert _broken(body)["proposal-sent"] == (
        "field_step_workflow",
        ["field 'proposal_sent_on' no longer exists", "step 'send_proposal' no longer exists in pipeline 'sales'"],
    )
    status, body = stack.api("GET", "/field-step-workflows/proposal-sent", claims=ADMIN)
    assert "field 'proposal_sent_on' no longer exists" in body["warnings"]


def test_deleting_a_pipeline_names_the_field_step_workflows_on_it(stack: MotoStack) -> None:
    pipeline = {
        "id": "upsell",
        "name": "Upsell",
        "stages": [{"id": "due", "name": "Due", "steps": [{"id": "sign", "name": "Sign"}]}],
    }
    assert stack.api("PUT", "/pipelines/upsell", pipeline, claims=ADMIN)[0] == 201
    assert (
        stack.api("PUT", "/fields/signed_on", {"code": "signed_on", "name": "Signed", "kind": "date"}, claims=ADMIN)[0]
        == 201
    )
    workflow = {
        "id": "signed",
        "name": "Signed",
        "field_code": "signed_on",
        "pipeline_id": "upsell",
        "step_id": "sign",
    }
    assert stack.api("PUT", "/field-step-workflows/signed", workflow, claims=ADMIN)[0] == 201

    status, body = stack.api("DELETE", "/pipelines/upsell", claims=ADMIN)
    assert status == 200 and _broken(body) == {
        "signed": ("field_step_workflow", ["pipeline 'upsell' no longer exists"])
    }


def test_deleting_a_constant_names_the_automation_it_broke(stack: MotoStack) -> None:
    status, body = stack.api("DELETE", "/constants/crm_url", claims=ADMIN)
    assert status == 200 and body["value"] == "https://crm.acme.example"
    assert _broken(body)["lost-email"] == ("rule", ["constant 'crm_url' no longer exists (actions.0.body)"])
    status, body = stack.api("DELETE", "/variables/nothing_here", claims=ADMIN)
    assert status == 404
