"""Constants and variables through the management API: typed values, names checked, only
administrators change them, every change reaches automation (its version moves)."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def _fields(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def _version(stack: MotoStack) -> int:
    return stack.automation.get_tenant(TENANT).automation_version


def test_constants_create_read_replace_list_and_delete(stack: MotoStack) -> None:
    start = _version(stack)
    status, body = stack.api("PUT", "/constants/tax_rate", {"type": "number", "value": "0.23"}, claims=ADMIN)
    assert status == 201 and body == {"name": "tax_rate", "type": "number", "value": "0.23"}
    assert _version(stack) == start + 1

    status, body = stack.api("PUT", "/constants/tax_rate", {"type": "number", "value": 0.08}, claims=ADMIN)
    assert status == 200 and body["value"] == "0.08"
    assert stack.api("GET", "/constants/tax_rate", claims=ANNA) == (200, body)
    assert _version(stack) == start + 2

    status, listed = stack.api("GET", "/constants", claims=ANNA)
    assert status == 200 and [c["name"] for c in listed["items"]] == ["crm_url", "head_of_sales", "tax_rate"]

    status, body = stack.api("DELETE", "/constants/tax_rate", claims=ADMIN)
    assert status == 200 and body["value"] == "0.08"
    assert _version(stack) == start + 3
    assert "tax_rate" not in stack.automation.get_tenant(TENANT).constants

    status, body = stack.api("GET", "/constants/tax_rate", claims=ANNA)
    assert status == 404 and body["id"] == "tax_rate" and "no constant 'tax_rate'" in body["reason"]
    status, body = stack.api("DELETE", "/constants/tax_rate", claims=ADMIN)
    assert status == 404 and body["id"] == "tax_rate"
    assert _version(stack) == start + 3


@pytest.mark.parametrize(
    ("name", "value", "field", "problem"),
    [
        ("Tax", {"type": "number", "value": "1"}, "name", "is not a name"),
        ("9lives", {"type": "number", "value": "1"}, "name", "is not a name"),
        ("tax", {"type": "number", "value": "a lot"}, "value", "is not a number"),
        ("deadline", {"type": "date", "value": "next friday"}, "value", "is not a date"),
        ("open", {"type": "boolean", "value": "yes"}, "value", "not true or false"),
        ("accountant", {"type": "user", "value": "u-nobody"}, "value", "no user 'u-nobody'"),
        ("tax", {"type": "colour", "value": "red"}, "type", "Input should be"),
    ],
)
def test_bad_names_and_values_are_422_naming_the_field_and_nothing_is_written(
    stack: MotoStack, name: str, value: dict[str, Any], field: str, problem: str
) -> None:
    before = stack.automation.get_tenant(TENANT)

    status, body = stack.api("PUT", f"/constants/{name}", value, claims=ADMIN)

    assert status == 422 and problem in _fields(body)[field]
    assert stack.automation.get_tenant(TENANT) == before


def test_a_user_value_names_a_user_of_the_tenant(stack: MotoStack) -> None:
    status, body = stack.api("PUT", "/constants/chief_accountant", {"type": "user", "value": "u-head"}, claims=ADMIN)
    assert status == 201 and body["value"] == "u-head"
    assert stack.automation.get_tenant(TENANT).constants["chief_accountant"].value == "u-head"


def test_only_administrators_change_constants_and_variables(stack: MotoStack) -> None:
    for path in ("/constants/tax_rate", "/variables/commission_pct"):
        status, body = stack.api("PUT", path, {"type": "number", "value": "5"}, claims=ANNA)
        assert status == 403 and body["error"] == "forbidden"
        assert stack.api("DELETE", path, claims=ANNA)[0] == 403
    assert stack.api("GET", "/constants", claims=ANNA)[0] == 200
    assert stack.api("GET", "/variables", claims=ANNA)[0] == 200
    tenant = stack.automation.get_tenant(TENANT)
    assert "tax_rate" not in tenant.constants and "commission_pct" not in tenant.variables


def test_variables_have_the_same_routes_apart_from_constants(stack: MotoStack) -> None:
    status, body = stack.api("PUT", "/variables/commission_pct", {"type": "number", "value": "12.5"}, claims=ADMIN)
    assert status == 201 and body == {"name": "commission_pct", "type": "number", "value": "12.5"}
    assert stack.api("GET", "/constants/commission_pct", claims=ANNA)[0] == 404
    status, listed = stack.api("GET", "/variables", claims=ANNA)
    assert listed == {"items": [body]}
    assert str(stack.automation.get_tenant(TENANT).variables["commission_pct"].value) == "12.5"
    assert stack.api("DELETE", "/variables/commission_pct", claims=ADMIN)[0] == 200
    assert stack.api("GET", "/variables", claims=ANNA) == (200, {"items": []})


def _notify(message: str) -> list[dict[str, Any]]:
    return [{"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": message}}]


def test_automation_sees_a_changed_constant_at_once(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.drain()
    stack.api("PUT", "/constants/campaign", {"type": "text", "value": "spring"}, claims=ADMIN)
    process = {
        "kind": "business_process",
        "id": "campaign-note",
        "name": "Campaign note",
        "start_on": ["manual"],
        "nodes": [
            {
                "kind": "condition",
                "branches": [
                    {
                        "name": "spring",
                        "condition": {"field": "const.campaign", "op": "equals", "value": "spring"},
                        "nodes": _notify("Spring offer for {{ deal.title }}"),
                    }
                ],
                "otherwise": _notify("{{ const.campaign }} has no offer"),
            }
        ],
    }
    assert stack.api("PUT", "/automation/campaign-note", process, claims=ADMIN)[0] == 201

    def notified() -> str:
        status, run = stack.api("POST", "/automation/campaign-note/test", {"deal_id": "d-1"}, claims=ADMIN)
        assert status == 200 and run["status"] == "completed", run
        [step] = [s for s in run["steps"] if s["name"].endswith("notify")]
        return step["detail"]["message"]

    assert notified() == "Spring offer for Data migration"
    assert stack.api("PUT", "/constants/campaign", {"type": "text", "value": "summer"}, claims=ADMIN)[0] == 200
    assert notified() == "summer has no offer"


def test_a_rule_condition_on_a_constant_follows_its_changes(stack: MotoStack) -> None:
    stack.api("PUT", "/constants/campaign", {"type": "text", "value": "spring"}, claims=ADMIN)
    rule = {
        "kind": "rule",
        "id": "spring-offer",
        "name": "Spring offer in negotiation",
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "condition": {"field": "const.campaign", "op": "equals", "value": "spring"},
        "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ const.campaign }} offer"}],
    }
    assert stack.api("PUT", "/automation/spring-offer", rule, claims=ADMIN)[0] == 201
    for deal_id in ("d-1", "d-2"):
        stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", "7300.00", "services"))
    stack.drain()

    status, run = stack.api("POST", "/automation/spring-offer/test", {"deal_id": "d-1"}, claims=ADMIN)
    assert status == 200 and run["status"] == "completed"
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()
    assert [r.status for r in stack.runs_of(TENANT, "spring-offer")] == ["completed"]
    assert [n.message for n in stack.notifications()] == ["spring offer"]

    assert stack.api("PUT", "/constants/campaign", {"type": "text", "value": "summer"}, claims=ADMIN)[0] == 200
    status, run = stack.api("POST", "/automation/spring-offer/test", {"deal_id": "d-2"}, claims=ADMIN)
    assert status == 200 and run["status"] == "skipped"
    [condition] = run["steps"][0]["detail"]["conditions"]
    assert condition["actual"] == "summer"
    stack.move_deal(TENANT, "d-2", "negotiation")
    stack.drain()
    assert len(stack.notifications()) == 1  # the second deal was not told about a spring offer
