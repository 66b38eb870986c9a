"""Deals through the management API: create, read, update with optimistic locking, move, runs."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT

ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
NEW = {
    "id": "deal-2001",
    "pipeline_id": "sales",
    "stage_id": "new",
    "title": "Cloud migration",
    "amount": "24000.00",
    "currency": "EUR",
    "responsible_id": "u-anna",
    "company": "Contoso",
    "contact": {"name": "Carl", "email": "carl@contoso.example"},
    "fields": {"what_we_sell": "services"},
}


def _fields(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def test_create_read_and_money_stays_exact(stack: MotoStack) -> None:
    status, deal = stack.api("POST", "/deals", NEW, claims=ANNA)
    assert status == 201, deal
    assert deal["tenant_id"] == TENANT and deal["version"] == 1 and deal["amount"] == "24000.00"

    status, read = stack.api("GET", "/deals/deal-2001", claims=ANNA)
    assert status == 200 and read == deal
    assert stack.get_deal(TENANT, "deal-2001").company == "Contoso"

    status, body = stack.api("POST", "/deals", NEW, claims=ANNA)
    assert status == 409 and body["id"] == "deal-2001"

    status, generated = stack.api("POST", "/deals", {k: v for k, v in NEW.items() if k != "id"}, claims=ANNA)
    assert status == 201 and generated["id"].startswith("d-")


def test_leads_are_created_in_lead_pipelines_only(stack: MotoStack) -> None:
    lead = {"entity": "lead", "pipeline_id": "leads", "stage_id": "new", "title": "Inbound"}
    status, body = stack.api("POST", "/deals", lead, claims=ANNA)
    assert status == 201 and body["entity"] == "lead"
    status, body = stack.api("POST", "/deals", {**lead, "pipeline_id": "sales"}, claims=ANNA)
    assert status == 422 and "leads" in _fields(body)["pipeline_id"]


def test_create_names_every_bad_field_and_writes_nothing(stack: MotoStack) -> None:
    status, body = stack.api(
        "POST",
        "/deals",
        {**NEW, "stage_id": "closed", "responsible_id": "u-ghost", "fields": {"what_we_sell": "cheese", "budget": 1}},
        claims=ANNA,
    )
    assert status == 422
    problems = _fields(body)
    assert set(problems) == {"stage_id", "responsible_id", "fields.what_we_sell", "fields.budget"}, problems
    assert stack.get_deal(TENANT, "deal-2001") is None

    status, body = stack.api("POST", "/deals", {**NEW, "amount": "a lot", "tenant_id": "globex"}, claims=ANNA)
    assert status == 422 and {"amount", "tenant_id"} <= set(_fields(body))  # the tenant is never the body's


def test_update_with_version_and_stale_write_is_409(stack: MotoStack) -> None:
    stack.api("POST", "/deals", NEW, claims=ANNA)
    status, updated = stack.api(
        "PATCH",
        "/deals/deal-2001",
        {"version": 1, "title": "Cloud migration II", "fields": {"what_we_sell": "products"}},
        claims=ANNA,
    )
    assert status == 200 and updated["version"] == 2 and updated["title"] == "Cloud migration II"
    assert updated["fields"] == {"what_we_sell": "products"} and updated["company"] == "Contoso"

    status, body = stack.api("PATCH", "/deals/deal-2001", {"version": 1, "title": "Lost update"}, claims=ANNA)
    assert status == 409 and body["error"] == "conflict" and body["current_version"] == 2
    assert stack.get_deal(TENANT, "deal-2001").title == "Cloud migration II"

    status, body = stack.api("PATCH", "/deals/deal-2001", {"title": "no version"}, claims=ANNA)
    assert status == 422 and "version" in _fields(body)
    status, body = stack.api("PATCH", "/deals/deal-2001", {"version": 2, "stage_id": "won"}, claims=ANNA)
    assert status == 422 and "stage_id" in _fields(body)  # stages move through /move
    assert stack.api("PATCH", "/deals/nope", {"version": 1}, claims=ANNA)[0] == 404


def test_move_to_stage_runs_the_rules_of_the_stage(stack: MotoStack) -> None:
    stack.api("POST", "/deals", NEW, claims=ANNA)
    status, moved = stack.api("POST", "/deals/deal-2001/move", {"stage_id": "won", "version": 1}, claims=ANNA)
    assert status == 200 and moved["stage_id"] == "won" and moved["version"] == 2
    stack.drain()
    assert [n.message for n in stack.notifications()] == ["Deal won: Cloud migration for 24000.00 EUR"]

    status, runs = stack.api("GET", "/deals/deal-2001/runs", claims=ANNA)
    assert status == 200
    assert {r["automation_id"] for r in runs["items"]} >= {"won-notify-head", "won-services-workgroup"}

    status, body = stack.api("POST", "/deals/deal-2001/move", {"stage_id": "new", "version": 1}, claims=ANNA)
    assert status == 409
    status, body = stack.api("POST", "/deals/deal-2001/move", {"stage_id": "kickoff"}, claims=ANNA)
    assert status == 422 and "kickoff" in _fields(body)["stage_id"]
    status, body = stack.api(
        "POST", "/deals/deal-2001/move", {"stage_id": "kickoff", "pipeline_id": "delivery"}, claims=ANNA
    )
    assert status == 200 and (body["pipeline_id"], body["stage_id"]) == ("delivery", "kickoff")
