"""Deals through the management API: create, read, update with optimistic locking, move, runs."""

from __future__ import annotations

from decimal import Decimal
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


ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
KINDS = {
    "budget": {"code": "budget", "name": "Budget", "kind": "number"},
    "signed": {"code": "signed", "name": "Signed", "kind": "checkbox"},
    "accountant": {"code": "accountant", "name": "Accountant", "kind": "user"},
}


def _with_fields_of_every_kind(stack: MotoStack) -> None:
    for code, definition in KINDS.items():
        assert stack.api("PUT", f"/fields/{code}", definition, claims=ADMIN)[0] == 201


def test_custom_field_values_are_checked_by_their_kind_when_created(stack: MotoStack) -> None:
    _with_fields_of_every_kind(stack)
    bad = {"budget": "lots", "proposal_sent_on": "next Friday", "signed": "maybe", "accountant": "u-ghost"}
    status, body = stack.api("POST", "/deals", {**NEW, "fields": bad}, claims=ANNA)
    assert status == 422
    assert _fields(body) == {
        "fields.budget": 'expected a number, got "lots"',
        "fields.proposal_sent_on": 'expected a date (YYYY-MM-DD), got "next Friday"',
        "fields.signed": 'expected true or false, got "maybe"',
        "fields.accountant": "no user 'u-ghost' in this tenant",
    }
    assert stack.get_deal(TENANT, "deal-2001") is None

    good = {"budget": "12500.00", "proposal_sent_on": "2026-12-04", "signed": True, "accountant": "u-head"}
    status, deal = stack.api("POST", "/deals", {**NEW, "fields": good}, claims=ANNA)
    assert status == 201, deal
    assert deal["fields"]["budget"] == "12500.00" and deal["fields"]["signed"] is True
    assert stack.get_deal(TENANT, "deal-2001").fields["budget"] == Decimal("12500.00")  # stored as a number


def test_custom_field_values_are_checked_by_their_kind_when_changed(stack: MotoStack) -> None:
    _with_fields_of_every_kind(stack)
    stack.api("POST", "/deals", NEW, claims=ANNA)
    status, body = stack.api("PATCH", "/deals/deal-2001", {"version": 1, "fields": {"budget": "lots"}}, claims=ANNA)
    assert status == 422 and _fields(body) == {"fields.budget": 'expected a number, got "lots"'}
    assert stack.get_deal(TENANT, "deal-2001").version == 1

    status, deal = stack.api("PATCH", "/deals/deal-2001", {"version": 1, "fields": {"budget": 900}}, claims=ANNA)
    assert status == 200 and deal["fields"]["budget"] == "900"


def test_a_rule_comparing_an_amount_written_as_text_fires(stack: MotoStack) -> None:
    rule = {
        "kind": "rule",
        "id": "exact-amount",
        "name": "Exactly 24,000",
        "pipeline_id": "sales",
        "stage_id": "new",
        "condition": {
            "any": [
                {"field": "amount", "op": "equals", "value": "24000.00"},
                {"field": "amount", "op": "in", "value": ["24000"]},
            ]
        },
        "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "Exactly: {{ deal.title }}"}],
    }
    assert stack.api("PUT", "/automation/exact-amount", rule, claims=ADMIN)[0] == 201
    stack.api("POST", "/deals", NEW, claims=ANNA)
    stack.drain()
    assert "Exactly: Cloud migration" in [n.message for n in stack.notifications()]


def test_a_rule_writing_lots_into_a_number_field_is_refused_and_fails_its_run_when_stored_anyway(
    stack: MotoStack,
) -> None:
    _with_fields_of_every_kind(stack)
    rule = {
        "kind": "rule",
        "id": "lots",
        "name": "Budget: lots",
        "pipeline_id": "sales",
        "stage_id": "new",
        "actions": [{"kind": "update_fields", "values": {"budget": {"value": "lots"}}}],
    }
    status, body = stack.api("PUT", "/automation/lots", rule, claims=ADMIN)
    assert status == 422 and _fields(body) == {"actions.0.values.budget.value": 'expected a number, got "lots"'}

    # Computed, the value is known only when the rule runs: the run fails saying why.
    computed = {**rule, "actions": [{"kind": "update_fields", "values": {"budget": {"expression": "'lots'"}}}]}
    assert stack.api("PUT", "/automation/lots", computed, claims=ADMIN)[0] == 201
    stack.api("POST", "/deals", NEW, claims=ANNA)
    stack.drain()
    [run] = [r for r in stack.runs(TENANT, "deal-2001") if r.automation_id == "lots"]
    assert run.status == "failed" and run.reason is not None
    assert "field 'budget': expected a number, got \"lots\"" in run.reason
    assert "budget" not in stack.get_deal(TENANT, "deal-2001").fields
