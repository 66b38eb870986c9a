"""A business process started by hand through the API: POST /deals/{deal_id}/runs with the
process and its parameters; parameters checked against what the process declares, rights checked,
the run started once per start and found in the run log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
FOLLOW_UP = {
    "kind": "business_process",
    "id": "follow-up",
    "name": "Follow up",
    "entity": "deal",
    "start_on": ["manual"],
    "parameters": {
        "days": {"type": "number"},  # no default: required
        "reason": {"type": "text", "value": "Call back"},
        "owner": {"type": "user", "value": "u-anna"},
    },
    "nodes": [
        {
            "kind": "action",
            "action": {"kind": "create_task", "title": "{{ var.reason }} within {{ var.days }} days"},
        }
    ],
}
DEAL = {
    "id": "deal-3001",
    "pipeline_id": "sales",
    "stage_id": "new",
    "title": "Cloud migration",
    "amount": "900",
    "responsible_id": "u-anna",
}


def _problems(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


@pytest.fixture
def acme(stack: MotoStack) -> MotoStack:
    assert stack.api("PUT", "/automation/follow-up", FOLLOW_UP, claims=ADMIN)[0] == 201
    assert stack.api("POST", "/deals", DEAL, claims=ANNA)[0] == 201
    stack.drain()
    return stack


def _start(stack: MotoStack, body: dict[str, Any], deal_id: str = "deal-3001", claims: Any = ANNA) -> Any:
    return stack.api("POST", f"/deals/{deal_id}/runs", body, claims=claims)


def test_a_sales_rep_starts_a_process_by_hand_and_follows_the_link_to_its_run(acme: MotoStack) -> None:
    response = acme.api_response(
        "POST", "/deals/deal-3001/runs", {"process_id": "follow-up", "parameters": {"days": 5}}, claims=ANNA
    )
    assert response["statusCode"] == 202, response
    started = json.loads(response["body"])
    assert started["started"] is True and started["deal_id"] == "deal-3001" and started["process_id"] == "follow-up"
    assert started["run"] == f"/runs/{started['run_id']}" == response["headers"]["Location"]
    acme.drain()

    status, run = acme.api("GET", started["run"], claims=ANNA)
    assert status == 200 and run["status"] == "completed", run
    assert run["automation_id"] == "follow-up" and run["started_by"]["event"] == "manual"
    assert [t["title"] for t in acme.tasks(TENANT)] == ["Call back within 5 days"]


def test_the_same_start_again_starts_nothing_new_and_a_new_request_id_does(acme: MotoStack) -> None:
    body = {"process_id": "follow-up", "parameters": {"days": "5", "reason": "Send the offer"}}
    first = _start(acme, body)[1]
    status, again = _start(acme, body)
    acme.drain()
    assert status == 202 and again == {**first, "started": False}
    assert len(acme.tasks(TENANT)) == 1

    status, other = _start(acme, {**body, "request_id": "click-2"})
    assert status == 202 and other["started"] is True and other["run_id"] != first["run_id"]
    assert _start(acme, {**body, "request_id": "click-2"})[1]["started"] is False
    acme.drain()
    assert [t["title"] for t in acme.tasks(TENANT)] == ["Send the offer within 5 days"] * 2


def test_parameters_are_checked_against_what_the_process_declares(acme: MotoStack) -> None:
    status, body = _start(acme, {"process_id": "follow-up", "parameters": {"colour": "red", "owner": "u-ghost"}})
    assert status == 422
    assert _problems(body) == {
        "parameters.colour": "business process 'follow-up' has no parameter colour (it has days, owner, reason)",
        "parameters.days": "required: a number value",
        "parameters.owner": "no user 'u-ghost' in this tenant",
    }
    status, body = _start(acme, {"process_id": "follow-up", "parameters": {"days": "lots"}})
    assert status == 422 and _problems(body) == {"parameters.days": "'lots' is not a number"}
    status, body = _start(acme, {"process_id": "follow-up", "parameters": {"days": 2}, "request_id": "bad id!"})
    assert status == 422 and "request_id" in _problems(body)
    acme.drain()
    assert acme.tasks(TENANT) == [] and acme.runs_of(TENANT, "follow-up") == []


def test_only_a_switched_on_process_that_starts_by_hand_can_be_started(acme: MotoStack) -> None:
    status, body = _start(acme, {"process_id": "nope"})
    assert status == 422 and _problems(body) == {"process_id": "no business process 'nope' in this tenant"}
    status, body = _start(acme, {"process_id": "won-notify-head"})  # a rule, not a process
    assert status == 422 and "no business process 'won-notify-head'" in _problems(body)["process_id"]

    on_add = {**FOLLOW_UP, "id": "on-add", "start_on": ["add"], "parameters": {}}
    assert acme.api("PUT", "/automation/on-add", on_add, claims=ADMIN)[0] == 201
    status, body = _start(acme, {"process_id": "on-add"})
    assert status == 422 and _problems(body) == {
        "process_id": "business process 'on-add' is not started by hand (it starts on add)"
    }

    assert acme.api("POST", "/automation/follow-up/disable", claims=ADMIN)[0] == 200
    status, body = _start(acme, {"process_id": "follow-up", "parameters": {"days": 1}})
    assert status == 422 and _problems(body) == {"process_id": "business process 'follow-up' is switched off"}


def test_a_process_for_leads_is_not_started_on_a_deal(acme: MotoStack) -> None:
    for_leads = {**FOLLOW_UP, "id": "lead-follow-up", "entity": "lead"}
    assert acme.api("PUT", "/automation/lead-follow-up", for_leads, claims=ADMIN)[0] == 201
    status, body = _start(acme, {"process_id": "lead-follow-up", "parameters": {"days": 1}})
    assert status == 422
    assert _problems(body) == {"process_id": "business process 'lead-follow-up' runs on leads, not deals"}


def test_rights_and_the_deal_are_checked_first(acme: MotoStack) -> None:
    status, body = _start(acme, {"process_id": "follow-up", "parameters": {"days": 1}}, deal_id="deal-404")
    assert status == 404 and body["id"] == "deal-404"

    assert acme.api("PUT", "/rights/sales_rep", {"deals": {"read": True, "write": False}}, claims=ADMIN)[0] == 200
    status, body = _start(acme, {"process_id": "follow-up", "parameters": {"days": 1}})
    assert status == 403 and body["error"] == "forbidden", body
    status, body = _start(acme, {"process_id": "follow-up", "parameters": {"days": 1}}, claims=ADMIN)
    assert status == 202
