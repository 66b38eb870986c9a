"""The run log through the management API: real runs and test runs apart, narrowed by automation,
deal and status, newest first, paged with an opaque token."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def _runs(stack: MotoStack, **query: Any) -> dict[str, Any]:
    status, body = stack.api("GET", "/runs", claims=ANNA, query={k: str(v) for k, v in query.items()})
    assert status == 200, body
    return body


def _fields(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] in ("validation", "bad_page_token"), body
    return {p["field"]: p["problem"] for p in body["problems"]}


@pytest.fixture
def history(stack: MotoStack) -> MotoStack:
    """Two deals lost a minute apart (each e-mailed by lost-email), one won after them."""
    for deal_id, title in (("d-1", "Data migration"), ("d-2", "Cloud backup")):
        stack.create_deal(demo_deal(deal_id, title, "7300.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "lost")
    stack.advance(minutes=1)
    stack.move_deal(TENANT, "d-2", "lost")
    stack.advance(minutes=1)
    stack.move_deal(TENANT, "d-1", "won")
    stack.advance(minutes=1)
    return stack


def test_real_runs_newest_first_and_narrowed(history: MotoStack) -> None:
    everything = _runs(history)["items"]
    assert everything and everything == sorted(everything, key=lambda r: r["started_at"], reverse=True)
    assert {r["automation_id"] for r in everything} >= {"lost-email", "won-notify-head"}

    lost = _runs(history, automation_id="lost-email")["items"]
    assert [r["deal_id"] for r in lost] == ["d-2", "d-1"]

    of_d1 = _runs(history, deal_id="d-1")["items"]
    assert {r["deal_id"] for r in of_d1} == {"d-1"}
    assert of_d1 == [r for r in everything if r["deal_id"] == "d-1"]
    assert [r["deal_id"] for r in _runs(history, deal_id="d-1", automation_id="lost-email")["items"]] == ["d-1"]

    completed = _runs(history, status="completed")["items"]
    assert completed and completed == [r for r in everything if r["status"] == "completed"]
    assert _runs(history, deal_id="d-404")["items"] == []


def test_pages_follow_each_other_without_gaps_or_repeats(history: MotoStack) -> None:
    everything = _runs(history)["items"]
    assert len(everything) >= 3
    seen, token = [], None
    while True:
        page = _runs(history, limit=2, **({"next_token": token} if token else {}))
        assert len(page["items"]) <= 2
        seen += page["items"]
        token = page["next_token"]
        if token is None:
            break
    assert seen == everything


def test_test_runs_are_listed_apart_from_real_ones(history: MotoStack) -> None:
    real_before = _runs(history)["items"]
    status, run = history.api("POST", "/automation/lost-email/test", {"deal_id": "d-2"}, claims=ADMIN)
    assert status == 200

    tests = _runs(history, test="true")["items"]
    assert [r["run_id"] for r in tests] == [run["run_id"]] and tests[0]["test"] is True
    assert [r["run_id"] for r in _runs(history, test="true", deal_id="d-2")["items"]] == [run["run_id"]]
    assert [r["run_id"] for r in _runs(history, test="true", automation_id="lost-email")["items"]] == [run["run_id"]]
    assert _runs(history, test="true", deal_id="d-1")["items"] == []
    assert _runs(history)["items"] == real_before
    assert run["run_id"] not in {r["run_id"] for r in _runs(history, deal_id="d-2")["items"]}

    assert history.api("GET", f"/runs/{run['run_id']}", claims=ANNA) == (200, tests[0])
    real = real_before[0]
    assert history.api("GET", f"/runs/{real['run_id']}", claims=ANNA) == (200, real)
    status, body = history.api("GET", "/runs/no-such-run", claims=ANNA)
    assert status == 404 and body["id"] == "no-such-run"


def test_bad_queries_are_422_naming_the_parameter(history: MotoStack) -> None:
    for query, field in (
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"status": "exploded"}, "status"),
        ({"test": "maybe"}, "test"),
    ):
        status, body = history.api("GET", "/runs", claims=ANNA, query=query)
        assert status == 422 and field in _fields(body), (query, body)
    for token in ("%%%", base64.urlsafe_b64encode(b"[1, 2]").decode()):
        status, body = history.api("GET", "/runs", claims=ANNA, query={"next_token": token})
        assert status == 400 and "next_token" in _fields(body), (token, body)

    # A token is a position in one list: not in another, not in another tenant's.
    token = _runs(history, limit=1)["next_token"]
    status, body = history.api("GET", "/runs", claims=ANNA, query={"next_token": token, "deal_id": "d-1"})
    assert status == 400 and "next_token" in _fields(body)
    payload, _, mac = token.partition(".")
    key = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    key["at"] = {**key["at"], "tenant_id": "globex", "log_key": "globex#RUN"}
    forged = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    status, body = history.api("GET", "/runs", claims=ANNA, query={"next_token": f"{forged}.{mac}"})
    assert status == 400 and "next_token" in _fields(body)


def _clauses(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for step in run["steps"] for c in step["detail"].get("conditions", [])]


def test_a_sales_rep_sees_a_hidden_fields_values_in_the_run_log_as_hidden(stack: MotoStack) -> None:
    rules = [
        {
            "kind": "rule",
            "id": "big-negotiation",
            "name": "Big deal in negotiation",
            "pipeline_id": "sales",
            "stage_id": "negotiation",
            "condition": {"field": "amount", "op": "gte", "value": 10000},
            "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "big"}],
        },
        {
            "kind": "rule",
            "id": "amount-note",
            "name": "Amount note",
            "pipeline_id": "sales",
            "stage_id": "negotiation",
            "actions": [
                {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}: {{ deal.amount }}"}
            ],
        },
    ]
    for rule in rules:
        assert stack.api("PUT", f"/automation/{rule['id']}", rule, claims=ADMIN)[0] == 201, rule
    rights = {"deals": {"fields": {"amount": "hidden"}}}
    assert stack.api("PUT", "/rights/sales_rep", rights, claims=ADMIN)[0] == 200
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    status, seen_by_admin = stack.api("GET", "/deals/d-1/runs", claims=ADMIN)
    assert status == 200
    by_id = {r["automation_id"]: r for r in seen_by_admin["items"]}
    assert by_id["big-negotiation"]["status"] == "not_started"
    assert [c["actual"] for c in _clauses(by_id["big-negotiation"])] == ["7300.00"]
    [note] = [s for s in by_id["amount-note"]["steps"] if s["kind"] == "action"]
    assert note["detail"]["message"] == "Data migration: 7300.00"

    status, listed = stack.api("GET", "/runs", claims=ANNA, query={"deal_id": "d-1"})
    status_deal, on_deal = stack.api("GET", "/deals/d-1/runs", claims=ANNA)
    assert status == status_deal == 200
    for runs in (listed["items"], on_deal["items"]):
        anna = {r["automation_id"]: r for r in runs}
        assert [(c["actual"], c.get("hidden")) for c in _clauses(anna["big-negotiation"])] == [("(hidden)", True)]
        [note] = [s for s in anna["amount-note"]["steps"] if s["kind"] == "action"]
        assert note["detail"]["message"] == "(hidden)" and note["detail"]["hidden"] is True
        assert "7300" not in json.dumps(runs)
    one = by_id["big-negotiation"]["run_id"]
    status, run = stack.api("GET", f"/runs/{one}", claims=ANNA)
    assert status == 200 and _clauses(run)[0]["actual"] == "(hidden)"
    status, runs = stack.api("GET", "/automation/amount-note/runs", claims=ANNA)
    assert status == 200 and "7300" not in json.dumps(runs)
