"""Pipelines and custom fields through the management API."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def _fields(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def test_pipelines_list_get_and_put(stack: MotoStack) -> None:
    status, body = stack.api("GET", "/pipelines", claims=ANNA)
    assert status == 200 and [p["id"] for p in body["items"]] == ["delivery", "leads", "renewals", "sales"]
    status, body = stack.api("GET", "/pipelines/sales", claims=ANNA)
    assert status == 200 and [s["id"] for s in body["stages"]][:2] == ["new", "proposal"]
    assert stack.api("GET", "/pipelines/nope", claims=ANNA) == (
        404,
        {"error": "not_found", "reason": "no pipeline 'nope' in this tenant", "id": "nope"},
    )

    support = {
        "id": "support",
        "name": "Support",
        "stages": [{"id": "open", "name": "Open"}, {"id": "closed", "name": "Closed", "semantic": "won"}],
    }
    status, body = stack.api("PUT", "/pipelines/support", support, claims=ADMIN)
    assert status == 201 and stack.automation.load(TENANT).pipelines["support"].stage("closed") is not None
    assert body["version"] == 1 and body["broken_automation"] == []


def test_removing_a_stage_automation_uses_flags_that_automation(stack: MotoStack) -> None:
    sales = stack.api("GET", "/pipelines/sales", claims=ADMIN)[1]
    without_lost = {**sales, "stages": [s for s in sales["stages"] if s["id"] != "lost"]}
    status, body = stack.api("PUT", "/pipelines/sales", without_lost, claims=ADMIN)
    assert status == 200 and body["version"] == 2
    assert [(b["id"], b["warnings"]) for b in body["broken_automation"]] == [
        ("lost-email", ["stage 'lost' no longer exists in pipeline 'sales' (stage_id)"])
    ]

    status, body = stack.api("PUT", "/pipelines/sales", {**sales, "stages": sales["stages"] * 2}, claims=ADMIN)
    assert status == 422 and "unique" in _fields(body)["stages"]
    status, body = stack.api("PUT", "/pipelines/sales", {**sales, "entity": "lead"}, claims=ADMIN)
    assert status == 422 and "entity" in _fields(body)
    status, body = stack.api("PUT", "/pipelines/sales", {**sales, "stages": []}, claims=ADMIN)
    assert status == 422 and "stages" in _fields(body)


def test_fields_list_and_put(stack: MotoStack) -> None:
    status, body = stack.api("GET", "/fields", claims=ANNA)
    assert status == 200 and [f["code"] for f in body["items"]] == ["proposal_sent_on", "what_we_sell"]

    deadline = {"code": "deadline", "name": "Deadline", "kind": "date"}
    assert stack.api("PUT", "/fields/deadline", deadline, claims=ADMIN)[0] == 201
    assert "deadline" in stack.automation.load(TENANT).fields

    status, body = stack.api("PUT", "/fields/amount", {**deadline, "code": "amount"}, claims=ADMIN)
    assert status == 422 and "standard deal field" in _fields(body)["code"]
    status, body = stack.api("PUT", "/fields/kind", {"code": "kind", "name": "K", "kind": "list"}, claims=ADMIN)
    assert status == 422 and "options" in _fields(body)
    status, body = stack.api("PUT", "/fields/deadline", {**deadline, "kind": "colour"}, claims=ADMIN)
    assert status == 422 and "kind" in _fields(body)
