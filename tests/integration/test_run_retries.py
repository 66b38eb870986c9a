"""The failed-run inbox and what can be done to a run, through the API on moto with real runs in the
local runner: failed runs listed by each filter; retried from the failed step and from the start, on
the version they ran and on the current one, one by one and in bulk — never repeating an effect
(counted in moto's SES outbox); waiting runs listed, cancelled and resumed early."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Notify, Recipients, Rule, SendEmail

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def flaky(message: str = "Lost {{ deal.title }}") -> Rule:
    """E-mails the head of sales, then notifies the deal's responsible user: a deal whose
    responsible user is unknown fails at the notification, after its e-mail went out."""
    return Rule(
        id="flaky",
        name="Lost: e-mail the head, tell the owner",
        pipeline_id="sales",
        stage_id="lost",
        actions=[
            SendEmail(to=Recipients(users=["u-head"]), subject="Flaky: {{ deal.title }}", body="Lost."),
            Notify(to=Recipients(responsible=True), message=message),
        ],
    )


def _flaky_emails(stack: MotoStack, title: str | None = None) -> int:
    return sum(1 for m in stack.emails() if m.subject.startswith("Flaky:") and (title is None or title in m.subject))


def _notes(stack: MotoStack, deal_id: str) -> list[str]:
    return [n.message for n in stack.notifications() if n.deal_id == deal_id]


def _lose(stack: MotoStack, *deals: str) -> dict[str, str]:
    """Each deal (responsible user unknown) lost a minute after the last; its flaky run's id."""
    for deal_id in deals:
        stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", "100.00", "services", responsible="u-gone"))
    stack.drain()
    failed = {}
    for deal_id in deals:
        stack.move_deal(TENANT, deal_id, "lost")
        stack.drain()
        stack.advance(minutes=1)
        [run] = [r for r in stack.runs(TENANT, deal_id) if r.automation_id == "flaky"]
        assert run.status == "failed" and "unknown user(s): u-gone" in (run.reason or ""), run
        failed[deal_id] = run.run_id
    return failed


def _fix(stack: MotoStack, *deals: str) -> None:
    for deal_id in deals:
        stack.update_deal(TENANT, deal_id, responsible_id="u-anna")
    stack.drain()


def _listed(stack: MotoStack, **query: Any) -> list[dict[str, Any]]:
    status, body = stack.api("GET", "/runs", claims=ANNA, query={k: str(v) for k, v in query.items()})
    assert status == 200, body
    return list(body["items"])


def _retry(stack: MotoStack, run_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, answer = stack.api("POST", f"/runs/{run_id}/retry", body or {}, claims=ANNA)
    assert status == 202, answer
    stack.drain()
    return dict(answer)


def _run(stack: MotoStack, run_id: str) -> dict[str, Any]:
    status, body = stack.api("GET", f"/runs/{run_id}", claims=ANNA)
    assert status == 200, body
    return dict(body)


def _save(stack: MotoStack, rule: Rule, version: int = 1) -> None:
    body = rule.model_dump(mode="json") | {"version": version}
    status, saved = stack.api("PUT", f"/automation/{rule.id}", body, claims=ADMIN)
    assert status in (200, 201) and saved["version"] == version + (status == 200), saved


@pytest.fixture
def acme(stack: MotoStack) -> MotoStack:
    _save(stack, flaky())
    return stack


def test_failed_runs_are_listed_by_automation_deal_time_and_reason(acme: MotoStack) -> None:
    failed = _lose(acme, "d-1", "d-2")
    d2_started = _run(acme, failed["d-2"])["started_at"]

    newest_first = [failed["d-2"], failed["d-1"]]
    inbox = _listed(acme, status="failed")
    assert [r["run_id"] for r in inbox] == newest_first
    assert all(r["position"] == "action-2-notify" and "request" not in r for r in inbox)
    assert [r["run_id"] for r in _listed(acme, status="failed", automation_id="flaky")] == newest_first
    assert _listed(acme, status="failed", automation_id="lost-email") == []
    assert [r["run_id"] for r in _listed(acme, status="failed", deal_id="d-1")] == [failed["d-1"]]
    assert [r["run_id"] for r in _listed(acme, status="failed", since=d2_started)] == [failed["d-2"]]
    assert len(_listed(acme, status="failed", reason="unknown user(s): u-gone")) == 2
    assert len(_listed(acme, status="failed", reason="action-2-notify")) == 2
    assert _listed(acme, status="failed", reason="time limit") == []
    assert len(_listed(acme, status="failed", retried="false")) == 2

    _fix(acme, "d-1")
    _retry(acme, failed["d-1"])
    assert [r["run_id"] for r in _listed(acme, status="failed", retried="false")] == [failed["d-2"]]
    assert [r["run_id"] for r in _listed(acme, status="failed", retried="true")] == [failed["d-1"]]


def test_a_retry_from_the_failed_step_does_not_send_the_e_mail_again(acme: MotoStack) -> None:
    failed = _lose(acme, "d-1")
    assert _flaky_emails(acme) == 1
    _fix(acme, "d-1")

    answer = _retry(acme, failed["d-1"])

    assert answer["retry_of"] == failed["d-1"] and answer["start"] == "action-2-notify" and answer["started"]
    retried = _run(acme, answer["run_id"])
    assert retried["status"] == "completed" and retried["retry_of"] == failed["d-1"]
    assert [s["name"] for s in retried["steps"]] == ["retry", "action-2-notify"]
    assert _flaky_emails(acme) == 1  # sent by the failed run, not again
    assert _notes(acme, "d-1") == ["Lost Deal d-1"]
    assert _run(acme, failed["d-1"])["retried_by"] == answer["run_id"]

    again = _retry(acme, failed["d-1"])  # the same retry asked for twice starts one run
    assert again["run_id"] == answer["run_id"] and not again["started"]
    assert _notes(acme, "d-1") == ["Lost Deal d-1"]


def test_a_retry_from_the_start_walks_again_and_repeats_nothing_done(acme: MotoStack) -> None:
    failed = _lose(acme, "d-1")
    _fix(acme, "d-1")

    answer = _retry(acme, failed["d-1"], {"from": "start"})

    retried = _run(acme, answer["run_id"])
    assert answer["start"] == "start" and retried["status"] == "completed"
    outcomes = {s["name"]: s["outcome"] for s in retried["steps"]}
    assert outcomes["action-1-send_email"] == "duplicate" and outcomes["action-2-notify"] == "done"
    assert _flaky_emails(acme) == 1
    assert _notes(acme, "d-1") == ["Lost Deal d-1"]


def test_a_retry_runs_the_version_the_run_started_with_or_the_current_one(acme: MotoStack) -> None:
    failed = _lose(acme, "d-1", "d-2")
    version = _run(acme, failed["d-1"])["automation_version"]
    _save(acme, flaky(message="v2: lost {{ deal.title }}"), version)
    _fix(acme, "d-1", "d-2")

    original = _retry(acme, failed["d-1"])
    current = _retry(acme, failed["d-2"], {"version": "current"})

    assert original["version"] == version and current["version"] > version
    assert _notes(acme, "d-1") == ["Lost Deal d-1"]
    assert _notes(acme, "d-2") == ["v2: lost Deal d-2"]
    assert _flaky_emails(acme) == 2  # one per deal, from the failed runs


def test_bulk_retry_by_filter_is_bounded_and_repeats_nothing(acme: MotoStack) -> None:
    failed = _lose(acme, "d-1", "d-2", "d-3")
    _fix(acme, "d-1", "d-2", "d-3")
    body = {"automation_id": "flaky", "reason": "unknown user", "limit": 2, "request_id": "inbox-1"}

    status, first = acme.api("POST", "/runs/retry", body, claims=ANNA)
    acme.drain()
    status_again, again = acme.api("POST", "/runs/retry", body, claims=ANNA)
    acme.drain()

    assert status == status_again == 200, first
    assert [r["retry_of"] for r in first["retried"]] == [failed["d-3"], failed["d-2"]] and first["more"]
    assert [r["run_id"] for r in again["retried"]] == [r["run_id"] for r in first["retried"]]
    assert not any(r["started"] for r in again["retried"])
    assert _notes(acme, "d-1") == [] and len(_notes(acme, "d-3")) == 1

    status, rest = acme.api("POST", "/runs/retry", {"automation_id": "flaky", "limit": 5}, claims=ANNA)
    acme.drain()
    assert status == 200 and [r["retry_of"] for r in rest["retried"]] == [failed["d-1"]] and not rest["more"]
    assert all(len(_notes(acme, d)) == 1 for d in ("d-1", "d-2", "d-3"))
    assert _flaky_emails(acme) == 3
    assert all(_run(acme, r)["retried_by"] for r in failed.values())


def test_a_run_that_did_not_fail_is_not_retried(acme: MotoStack) -> None:
    acme.create_deal(demo_deal("d-9", "Fine deal", "100.00", "services"))
    acme.move_deal(TENANT, "d-9", "lost")
    acme.drain()
    [completed] = [r for r in acme.runs(TENANT, "d-9") if r.automation_id == "lost-email"]

    status, body = acme.api("POST", f"/runs/{completed.run_id}/retry", {}, claims=ANNA)

    assert status == 409 and body["error"] == "conflict" and body["status"] == "completed"
    assert "completed, not failed" in body["reason"]
    assert acme.api("POST", "/runs/run-nope/retry", {}, claims=ANNA)[0] == 404


def _proposal(stack: MotoStack, *deals: str) -> dict[str, str]:
    for deal_id in deals:
        stack.create_deal(demo_deal(deal_id, f"Proposal {deal_id}", "100.00", "services"))
        stack.move_deal(TENANT, deal_id, "proposal")
    stack.drain()
    return {d: next(r.run_id for r in stack.runs(TENANT, d) if r.automation_id == "proposal-follow-up") for d in deals}


def _follow_ups(stack: MotoStack, deal_id: str) -> int:
    return sum(1 for m in stack.emails() if m.subject == f"Follow up: Proposal {deal_id}")


def test_waiting_runs_are_listed_cancelled_and_resumed_early(stack: MotoStack) -> None:
    waiting = _proposal(stack, "p-1", "p-2", "p-3")
    listed = _listed(stack, status="waiting", automation_id="proposal-follow-up")
    assert {r["run_id"] for r in listed} == set(waiting.values())
    assert all(r["position"] == "delay" and r["wake_at"] for r in listed)

    status, cancelled = stack.api("POST", f"/runs/{waiting['p-1']}/cancel", {}, claims=ANNA)
    assert status == 200 and cancelled["status"] == "cancelled"
    status, resumed = stack.api("POST", f"/runs/{waiting['p-2']}/resume", {}, claims=ANNA)
    assert status == 202, resumed
    stack.drain()

    # The resumed run's e-mail and task happen now, once.
    assert _follow_ups(stack, "p-2") == 1 and _follow_ups(stack, "p-1") == _follow_ups(stack, "p-3") == 0
    continued = _run(stack, resumed["run_id"])
    assert continued["status"] == "completed" and continued["retry_of"] == waiting["p-2"]
    assert [s["outcome"] for s in continued["steps"][:3]] == ["resumed early", "resumed early", "passed"]
    old = _run(stack, waiting["p-2"])
    assert old["status"] == "cancelled" and old["retried_by"] == resumed["run_id"]
    assert {r["run_id"] for r in _listed(stack, status="waiting")} == {waiting["p-3"]}

    stack.advance(days=3)  # when the waits would have ended

    assert _follow_ups(stack, "p-2") == 1  # not again
    assert _follow_ups(stack, "p-1") == 0  # cancelled
    assert _follow_ups(stack, "p-3") == 1  # waited its two days
    assert len([t for t in stack.tasks(TENANT) if "Proposal p-2" in t["title"]]) == 1
    status, body = stack.api("POST", f"/runs/{waiting['p-1']}/resume", {}, claims=ANNA)
    assert status == 409 and "cancelled, not waiting" in body["reason"]
    assert stack.api("POST", f"/runs/{waiting['p-3']}/cancel", {}, claims=ANNA)[0] == 409


GREET = {
    "kind": "business_process",
    "id": "greet",
    "name": "E-mail the head, wait a day, greet the owner",
    "entity": "deal",
    "start_on": ["manual"],
    "nodes": [
        {"kind": "set_variable", "variable": "greeting", "value": "Hi"},
        {"kind": "action", "action": {"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "Greet: "
                                      "{{ deal.title }}", "body": "Soon."}},
        {
            "kind": "condition",
            "branches": [
                {
                    "name": "any amount",
                    "condition": {"field": "amount", "op": "gte", "value": 1},
                    "nodes": [
                        {"kind": "delay", "delay": {"days": 1}},
                        {"kind": "action", "action": {"kind": "notify", "to": {"responsible": True},
                                                      "message": "{{ var.greeting }} {{ deal.title }}"}},
                    ],
                }
            ],
        },
    ],
}  # fmt: skip


def _greet(stack: MotoStack, deal_id: str, responsible: str) -> str:
    assert stack.api("PUT", "/automation/greet", GREET, claims=ADMIN)[0] in (200, 201)
    stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", "100.00", "services", responsible=responsible))
    stack.drain()
    status, started = stack.api("POST", f"/deals/{deal_id}/runs", {"process_id": "greet"}, claims=ANNA)
    assert status == 202, started
    stack.drain()
    return str(started["run_id"])


def test_a_process_is_retried_inside_the_branch_it_failed_in(stack: MotoStack) -> None:
    run_id = _greet(stack, "g-1", responsible="u-gone")
    stack.advance(days=1)
    failed = _run(stack, run_id)
    assert failed["status"] == "failed" and failed["position"] == "n2.b0.n1-notify", failed
    _fix(stack, "g-1")

    answer = _retry(stack, run_id)

    retried = _run(stack, answer["run_id"])
    assert retried["status"] == "completed", retried
    # The variable set before the failure is set again (no effect); nothing else before it is redone.
    assert [s["name"] for s in retried["steps"]] == ["retry", "n0", "n2", "n2.b0.n1-notify"]
    assert _notes(stack, "g-1") == ["Hi Deal g-1"]
    assert sum(m.subject == "Greet: Deal g-1" for m in stack.emails()) == 1


def test_a_process_waiting_in_a_branch_is_resumed_early(stack: MotoStack) -> None:
    run_id = _greet(stack, "g-2", responsible="u-anna")
    waiting = _run(stack, run_id)
    assert waiting["status"] == "waiting" and waiting["position"] == "n2.b0.n0"

    status, resumed = stack.api("POST", f"/runs/{run_id}/resume", {"request_id": "now"}, claims=ANNA)
    stack.drain()
    again = stack.api("POST", f"/runs/{run_id}/resume", {"request_id": "now"}, claims=ANNA)

    assert status == 202 and again[0] == 202 and again[1]["run_id"] == resumed["run_id"] and not again[1]["started"]
    assert _run(stack, resumed["run_id"])["status"] == "completed"
    assert _notes(stack, "g-2") == ["Hi Deal g-2"]
    stack.advance(days=2)
    assert _notes(stack, "g-2") == ["Hi Deal g-2"]
    assert sum(m.subject == "Greet: Deal g-2" for m in stack.emails()) == 1
