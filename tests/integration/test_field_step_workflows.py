"""Sales-process steps and field–step workflows (Livespace): filling a field marks its step done,
marking the step needs the field filled; one workflow per field and per step; the plan caps the
active ones; a workflow whose field or step is gone warns and does nothing. Driven through the
management API (HTTP API events with JWT claims) and, for automation's writes, the stream."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT
from dealflow.model import FieldDefinition
from dealflow.model.plan import PlanName

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
WORKFLOWS = "/field-step-workflows"

# kind → (a value that fills the field, one that leaves it empty)
KINDS = {
    "text": ("Signed by the CFO", "   "),
    "checkbox": (True, False),
    "date": ("2026-11-20", None),
    "number": (0, None),
}


def _problems(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def _workflow(workflow_id: str, field_code: str, step_id: str = "agree_terms", **changes: Any) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "name": f"{field_code} and {step_id}",
        "field_code": field_code,
        "pipeline_id": "sales",
        "step_id": step_id,
        **changes,
    }


def _field(stack: MotoStack, code: str, kind: str) -> None:
    status, body = stack.api(
        "PUT", f"/fields/{code}", {"code": code, "name": code.replace("_", " ").title(), "kind": kind}, claims=ADMIN
    )
    assert status == 201, body


def _linked(stack: MotoStack, kind: str) -> str:
    """A custom field of ``kind`` linked with the step 'agree_terms' by workflow 'wf-terms'."""
    code = f"terms_{kind}"
    _field(stack, code, kind)
    status, body = stack.api("PUT", f"{WORKFLOWS}/wf-terms", _workflow("wf-terms", code), claims=ADMIN)
    assert status == 201, body
    return code


def _deal(stack: MotoStack, deal_id: str, **changes: Any) -> dict[str, Any]:
    status, body = stack.api(
        "POST",
        "/deals",
        {"id": deal_id, "pipeline_id": "sales", "stage_id": "new", "title": f"Deal {deal_id}", **changes},
        claims=ANNA,
    )
    assert status == 201, body
    return body


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_filling_the_field_marks_the_step_in_the_same_write(stack: MotoStack, kind: str) -> None:
    code = _linked(stack, kind)
    filled, empty = KINDS[kind]
    deal = _deal(stack, "d-1")
    if empty is not None:
        status, deal = stack.api("PATCH", "/deals/d-1", {"version": 1, "fields": {code: empty}}, claims=ANNA)
        assert status == 200 and deal["steps"] == {}, deal  # an empty value marks nothing

    status, deal = stack.api("PATCH", "/deals/d-1", {"version": deal["version"], "fields": {code: filled}}, claims=ANNA)
    assert status == 200, deal
    assert deal["steps"]["agree_terms"]["by"] == "workflow:wf-terms"
    assert stack.get_deal(TENANT, "d-1").steps["agree_terms"].by == "workflow:wf-terms"

    # Creating a deal with the field already filled marks it too.
    assert _deal(stack, "d-2", fields={code: filled})["steps"]["agree_terms"]["by"] == "workflow:wf-terms"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_marking_the_step_needs_the_field_filled(stack: MotoStack, kind: str) -> None:
    code = _linked(stack, kind)
    filled, empty = KINDS[kind]
    _deal(stack, "d-1", fields={} if empty is None else {code: empty})
    required = {
        f"fields.{code}": (
            f"required: step 'Agree the terms' is marked done and field–step workflow "
            f"'wf-terms' needs '{code.replace('_', ' ').title()}' filled"
        )
    }

    status, body = stack.api("PATCH", "/deals/d-1", {"version": 1, "steps": {"agree_terms": True}}, claims=ANNA)
    assert status == 422 and _problems(body) == required
    status, body = stack.api("POST", "/deals/d-1/steps/agree_terms", {"done": True}, claims=ANNA)
    assert status == 422 and _problems(body) == required
    assert stack.get_deal(TENANT, "d-1").version == 1  # nothing written

    status, deal = stack.api(
        "PATCH", "/deals/d-1", {"version": 1, "steps": {"agree_terms": True}, "fields": {code: filled}}, claims=ANNA
    )
    assert status == 200, deal
    assert deal["steps"]["agree_terms"]["by"] == "u-anna" and deal["version"] == 2


def test_emptying_the_field_keeps_the_step_and_other_steps_are_free(stack: MotoStack) -> None:
    code = _linked(stack, "text")
    _deal(stack, "d-1", fields={code: "Net 30"})
    status, deal = stack.api(
        "PATCH", "/deals/d-1", {"version": 1, "fields": {code: None}, "steps": {"qualify": True}}, claims=ANNA
    )
    assert status == 200, deal
    assert set(deal["steps"]) == {"agree_terms", "qualify"} and code not in deal["fields"]
    assert deal["steps"]["qualify"]["by"] == "u-anna"


def test_a_switched_off_workflow_does_nothing_either_way(stack: MotoStack) -> None:
    code = _linked(stack, "checkbox")
    status, body = stack.api("POST", f"{WORKFLOWS}/wf-terms/disable", claims=ADMIN)
    assert status == 200 and body["enabled"] is False
    assert _deal(stack, "d-1", fields={code: True})["steps"] == {}
    _deal(stack, "d-2")
    status, deal = stack.api("POST", "/deals/d-2/steps/agree_terms", {"done": True}, claims=ANNA)
    assert status == 200 and deal["steps"]["agree_terms"]["by"] == "u-anna"


def test_steps_are_marked_and_undone_by_any_role(stack: MotoStack) -> None:
    _deal(stack, "d-1")
    status, deal = stack.api("POST", "/deals/d-1/steps/qualify", {"done": True, "version": 1}, claims=ANNA)
    assert status == 200 and deal["version"] == 2 and deal["steps"]["qualify"]["by"] == "u-anna"

    status, body = stack.api("POST", "/deals/d-1/steps/qualify", {"done": False, "version": 1}, claims=ANNA)
    assert status == 409 and body["error"] == "conflict" and body["current_version"] == 2
    status, deal = stack.api("POST", "/deals/d-1/steps/qualify", {"done": False}, claims=ANNA)
    assert status == 200 and deal["steps"] == {} and deal["version"] == 3

    status, body = stack.api("POST", "/deals/d-1/steps/kickoff_call", {"done": True}, claims=ANNA)
    assert status == 404 and body["error"] == "not_found" and body["id"] == "kickoff_call"
    assert stack.api("POST", "/deals/nope/steps/qualify", {"done": True}, claims=ANNA)[0] == 404
    status, body = stack.api("PATCH", "/deals/d-1", {"version": 3, "steps": {"kickoff_call": True}}, claims=ANNA)
    assert status == 422 and "no step 'kickoff_call'" in _problems(body)["steps.kickoff_call"]
    status, body = stack.api("POST", "/deals/d-1/steps/qualify", {"done": "maybe"}, claims=ANNA)
    assert status == 422 and "done" in _problems(body)


def test_put_creates_replaces_and_checks_the_version(stack: MotoStack) -> None:
    _field(stack, "terms_note", "text")
    body = _workflow("wf-terms", "terms_note")
    status, created = stack.api("PUT", f"{WORKFLOWS}/wf-terms", body, claims=ADMIN)
    assert status == 201 and created["version"] == 1 and created["enabled"] is True
    status, replaced = stack.api("PUT", f"{WORKFLOWS}/wf-terms", {**body, "name": "Terms"}, claims=ADMIN)
    assert status == 200 and replaced["version"] == 2 and replaced["name"] == "Terms"
    status, stale = stack.api("PUT", f"{WORKFLOWS}/wf-terms", {**body, "name": "Lost update"}, claims=ADMIN)
    assert status == 409 and stale["current_version"] == 2
    assert stack.api("GET", f"{WORKFLOWS}/wf-terms", claims=ANNA)[1]["name"] == "Terms"

    status, reply = stack.api(
        "PUT", f"{WORKFLOWS}/wf-other", _workflow("wf-other", "what_we_sell", "qualify"), claims=ANNA
    )
    assert status == 403 and reply["error"] == "forbidden"
    status, deleted = stack.api("DELETE", f"{WORKFLOWS}/wf-terms", claims=ADMIN)
    assert status == 200 and deleted == {"id": "wf-terms"}
    assert stack.api("GET", f"{WORKFLOWS}/wf-terms", claims=ADMIN)[0] == 404


def test_the_field_and_the_step_must_exist(stack: MotoStack) -> None:
    status, body = stack.api("PUT", f"{WORKFLOWS}/wf-x", _workflow("wf-x", "amount", "kickoff_call"), claims=ADMIN)
    assert status == 422
    assert _problems(body) == {
        "field_code": "no custom field 'amount' in this tenant",
        "step_id": "no step 'kickoff_call' in pipeline 'sales'",
    }
    status, body = stack.api(
        "PUT", f"{WORKFLOWS}/wf-x", {**_workflow("wf-x", "what_we_sell"), "pipeline_id": "support"}, claims=ADMIN
    )
    assert status == 422 and set(_problems(body)) == {"pipeline_id"}
    assert stack.api("GET", f"{WORKFLOWS}/wf-x", claims=ADMIN)[0] == 404


def test_a_field_or_a_step_serves_one_workflow_only(stack: MotoStack) -> None:
    # The demo's workflow 'proposal-sent' links 'proposal_sent_on' with 'send_proposal'; switched
    # off, it still holds both.
    assert stack.api("POST", f"{WORKFLOWS}/proposal-sent/disable", claims=ADMIN)[0] == 200
    status, body = stack.api("PUT", f"{WORKFLOWS}/wf-x", _workflow("wf-x", "proposal_sent_on", "qualify"), claims=ADMIN)
    assert status == 409 and body == {
        "error": "conflict",
        "workflow_id": "proposal-sent",
        "reason": "field 'proposal_sent_on' is used by field–step workflow 'proposal-sent' "
        "(Proposal sent: date and step)",
    }
    status, body = stack.api(
        "PUT", f"{WORKFLOWS}/wf-x", _workflow("wf-x", "what_we_sell", "send_proposal"), claims=ADMIN
    )
    assert status == 409 and body["workflow_id"] == "proposal-sent"
    assert body["reason"].startswith("step 'send_proposal' is used by field–step workflow 'proposal-sent'")
    assert stack.api("PUT", f"{WORKFLOWS}/wf-x", _workflow("wf-x", "what_we_sell", "qualify"), claims=ADMIN)[0] == 201


def test_the_plan_caps_active_workflows_and_the_counts_show_it(stack: MotoStack) -> None:
    tenant = stack.automation.get_tenant(TENANT)
    stack.put_tenant(tenant.model_copy(update={"plan": PlanName.FREE}))  # one active workflow
    status, listed = stack.api("GET", WORKFLOWS, claims=ANNA)
    assert status == 200 and [w["id"] for w in listed["items"]] == ["proposal-sent"]
    assert (listed["active"], listed["limit"], listed["available"]) == (1, 1, 0)

    _field(stack, "terms_note", "text")
    status, body = stack.api("PUT", f"{WORKFLOWS}/wf-terms", _workflow("wf-terms", "terms_note"), claims=ADMIN)
    assert status == 403 and body["error"] == "plan_limit" and (body["limit"], body["active"]) == (1, 1)
    assert "free" in body["reason"] and stack.api("GET", f"{WORKFLOWS}/wf-terms", claims=ADMIN)[0] == 404

    draft = _workflow("wf-terms", "terms_note", enabled=False)
    assert stack.api("PUT", f"{WORKFLOWS}/wf-terms", draft, claims=ADMIN)[0] == 201  # switched off is free
    status, body = stack.api("POST", f"{WORKFLOWS}/wf-terms/enable", claims=ADMIN)
    assert status == 403 and body["error"] == "plan_limit"

    assert stack.api("POST", f"{WORKFLOWS}/proposal-sent/disable", claims=ADMIN)[0] == 200
    status, body = stack.api("POST", f"{WORKFLOWS}/wf-terms/enable", claims=ADMIN)
    assert status == 200 and body["enabled"] is True
    listed = stack.api("GET", WORKFLOWS, claims=ANNA)[1]
    assert (listed["active"], listed["limit"], listed["available"]) == (1, 1, 0)
    assert {w["id"]: w["enabled"] for w in listed["items"]} == {"proposal-sent": False, "wf-terms": True}


def test_a_workflow_whose_step_or_field_is_gone_warns_and_does_nothing(stack: MotoStack) -> None:
    sales = stack.api("GET", "/pipelines/sales", claims=ADMIN)[1]
    for stage in sales["stages"]:
        stage["steps"] = [s for s in stage["steps"] if s["id"] != "send_proposal"]
    assert stack.api("PUT", "/pipelines/sales", sales, claims=ADMIN)[0] == 200
    [item] = stack.api("GET", WORKFLOWS, claims=ADMIN)[1]["items"]
    assert item["warnings"] == ["step 'send_proposal' no longer exists in pipeline 'sales'"]
    assert _deal(stack, "d-1", fields={"proposal_sent_on": "2026-11-20"})["steps"] == {}

    stack.automation.delete_definition(TENANT, FieldDefinition(code="proposal_sent_on", name="x", kind="date"))
    status, item = stack.api("GET", f"{WORKFLOWS}/proposal-sent", claims=ADMIN)
    assert status == 200 and item["warnings"] == [
        "field 'proposal_sent_on' no longer exists",
        "step 'send_proposal' no longer exists in pipeline 'sales'",
    ]


def test_an_automation_filling_the_field_marks_the_step_once(stack: MotoStack) -> None:
    code = _linked(stack, "text")
    rule = {
        "kind": "rule",
        "id": "standard-terms",
        "name": "Negotiation: standard terms",
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "actions": [{"kind": "update_fields", "values": {code: {"value": "Standard terms"}}}],
    }
    assert stack.api("PUT", "/automation/standard-terms", rule, claims=ADMIN)[0] == 201
    _deal(stack, "d-1")
    assert stack.api("POST", "/deals/d-1/move", {"stage_id": "negotiation"}, claims=ANNA)[0] == 200
    stack.drain()

    deal = stack.get_deal(TENANT, "d-1")
    assert deal.fields[code] == "Standard terms"
    assert deal.steps["agree_terms"].by == "workflow:wf-terms"
    assert deal.caused_by is not None and deal.caused_by.automation_id == "wf-terms"

    # A person undoes the step; the whole stream delivered again marks nothing twice.
    status, undone = stack.api("POST", "/deals/d-1/steps/agree_terms", {"done": False}, claims=ANNA)
    assert status == 200 and undone["steps"] == {}
    stack.drain()
    stack.deliver(list(stack.delivered))
    stack.drain()
    after = stack.get_deal(TENANT, "d-1")
    assert after.steps == {} and after.version == undone["version"]
