"""The ``wait_for`` node: a business process waits for an event about its deal (a webhook event, a
stage reached, a field condition met) or a timeout, as a durable callback the dispatcher and the
webhook receiver complete, then goes on down the ``received`` or the ``timed_out`` branch. On moto
with the local runner; time moves only when the test advances it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from dealflow import runtime
from dealflow.local import MotoStack
from dealflow.local.demo import PROCESS_TENANT, demo_deal, set_up_process_tenant
from dealflow.model import BusinessProcess, RunRecord
from dealflow.model.deal import StepDone
from dealflow.store.waiters import WaiterRegistry

T = PROCESS_TENANT
DEAL = "w-1"


@pytest.fixture
def globex() -> Iterator[MotoStack]:
    with MotoStack() as local:
        set_up_process_tenant(local)
        local.set_webhook_secret(T, "s3cret")
        local.create_deal(demo_deal(DEAL, "Waiting deal", "5000.00", "services").model_copy(update={"tenant_id": T}))
        local.drain()
        yield local


def _waiting_process(until: dict[str, Any], timeout: dict[str, int] | None = None) -> BusinessProcess:
    return BusinessProcess.model_validate(
        {
            "id": "wait",
            "name": "Wait for payment",
            "entity": "deal",
            "start_on": ["manual"],
            "nodes": [
                {
                    "kind": "wait_for",
                    "name": "Invoice paid?",
                    "until": until,
                    "timeout": timeout or {"days": 7},
                    "received": [
                        {
                            "kind": "action",
                            "action": {"kind": "create_task", "title": "thank them ({{ run.event.kind }})"},
                        }
                    ],
                    "timed_out": [{"kind": "action", "action": {"kind": "create_task", "title": "remind them"}}],
                }
            ],
        }
    )


def _start(stack: MotoStack, process: BusinessProcess) -> RunRecord:
    stack.put_automation(T, process)
    run_id = stack.start_process(T, process.id, DEAL)
    stack.drain()
    return _run(stack, run_id)


def _run(stack: MotoStack, run_id: str) -> RunRecord:
    [run] = [r for r in stack.runs_of(T, "wait") if r.run_id == run_id]
    return run


def _paid(stack: MotoStack, event_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"id": event_id, "kind": "invoice_paid", "deal_id": DEAL, "data": data or {"invoice_number": "INV-7"}}
    status, reply = stack.post_webhook(T, body)
    assert status == 202, reply
    stack.drain()
    return dict(reply)


def _titles(stack: MotoStack) -> list[str]:
    return sorted(t["title"] for t in stack.tasks(T))


def _waiters(stack: MotoStack) -> list[Any]:
    return WaiterRegistry(runtime.tables().automation).of_deal(T, DEAL)


def test_a_webhook_event_before_the_timeout_takes_the_received_branch_with_its_data(globex: MotoStack) -> None:
    process = _waiting_process({"kind": "webhook", "event": "invoice_paid"})
    process.nodes[0].received[0].action.title = "paid {{ run.event.data.invoice_number }}"  # type: ignore[union-attr]
    run = _start(globex, process)
    assert run.status == "waiting" and run.waiting_for == "webhook event 'invoice_paid'"
    assert len(_waiters(globex)) == 1 and _titles(globex) == []

    reply = _paid(globex, "evt-paid-1")

    assert reply["resumed"] == [run.run_id]
    assert _titles(globex) == ["paid INV-7"]
    done = _run(globex, run.run_id)
    assert done.status == "completed"
    waited = next(s for s in done.steps if s.name == "Invoice paid?")
    assert waited.outcome == "received" and waited.detail["event"]["data"] == {"invoice_number": "INV-7"}
    assert _waiters(globex) == []

    globex.advance(days=8)  # the callback's timeout passes: nothing more happens
    assert _titles(globex) == ["paid INV-7"]


def test_when_the_timeout_passes_first_the_timed_out_branch_runs_and_the_waiter_is_gone(globex: MotoStack) -> None:
    run = _start(globex, _waiting_process({"kind": "webhook", "event": "invoice_paid"}, {"days": 3}))

    globex.advance(days=2)
    assert _titles(globex) == [] and _run(globex, run.run_id).status == "waiting"
    globex.advance(days=1)

    assert _titles(globex) == ["remind them"]
    done = _run(globex, run.run_id)
    assert done.status == "completed"
    assert next(s for s in done.steps if s.name == "Invoice paid?").outcome == "timed out"
    assert _waiters(globex) == []
    assert _paid(globex, "evt-late")["resumed"] == []  # too late: nobody waits any more
    assert _titles(globex) == ["remind them"]


def test_an_event_that_comes_twice_resumes_the_run_once(globex: MotoStack) -> None:
    run = _start(globex, _waiting_process({"kind": "webhook", "event": "invoice_paid"}))

    first, second = _paid(globex, "evt-a"), _paid(globex, "evt-b")

    assert first["resumed"] == [run.run_id] and second["resumed"] == []
    assert _titles(globex) == ["thank them (invoice_paid)"]
    assert _run(globex, run.run_id).status == "completed"


def test_a_stage_reached_resumes_through_the_dispatcher_once_however_often_the_change_shows(
    globex: MotoStack,
) -> None:
    run = _start(globex, _waiting_process({"kind": "stage_reached", "stage_id": "won"}))
    assert run.waiting_for == "stage 'won' reached"

    globex.move_deal(T, DEAL, "won")
    globex.drain()
    globex.update_deal(T, DEAL, title="Still won")  # the deal shows the stage again
    globex.drain()

    assert [t for t in _titles(globex) if t.startswith("thank")] == ["thank them (stage_reached)"]
    assert _run(globex, run.run_id).status == "completed"


def test_a_field_condition_already_met_takes_the_received_branch_without_waiting(globex: MotoStack) -> None:
    condition = {"field": "amount", "op": "gte", "value": 1000}
    run = _start(globex, _waiting_process({"kind": "field", "condition": condition}))

    assert run.status == "completed"
    assert _titles(globex) == ["thank them (field)"] and _waiters(globex) == []


def test_a_field_condition_met_later_resumes_the_run(globex: MotoStack) -> None:
    condition = {"field": "amount", "op": "gte", "value": 10000}
    run = _start(globex, _waiting_process({"kind": "field", "condition": condition}))
    assert run.status == "waiting"

    globex.update_deal(T, DEAL, amount=Decimal("9000.00"))
    globex.drain()
    assert _run(globex, run.run_id).status == "waiting"
    globex.update_deal(T, DEAL, amount=Decimal("12000.00"))
    globex.drain()

    assert _titles(globex) == ["thank them (field)"]
    assert _run(globex, run.run_id).status == "completed"


def test_a_step_marked_done_resumes_the_run_with_who_marked_it(globex: MotoStack) -> None:
    process = _waiting_process({"kind": "step_done", "step_id": "qualify"})
    process.nodes[0].received[0].action.title = "qualified by {{ run.event.by }}"  # type: ignore[union-attr]
    run = _start(globex, process)
    assert run.waiting_for == "step 'qualify' done"

    globex.update_deal(T, DEAL, steps={"qualify": StepDone(by="u-anna", at="2026-12-01T10:00:00Z")})
    globex.drain()

    assert _titles(globex) == ["qualified by u-anna"]
    assert _run(globex, run.run_id).status == "completed"


def test_switching_the_process_off_while_waiting_cancels_the_run_and_removes_its_waiter(globex: MotoStack) -> None:
    run = _start(globex, _waiting_process({"kind": "webhook", "event": "invoice_paid"}))

    cancelled = globex.switch(T, "wait", enabled=False)

    assert cancelled == [run.run_id]
    assert _waiters(globex) == []
    assert _paid(globex, "evt-after-off")["resumed"] == []
    globex.advance(days=8)
    ended = _run(globex, run.run_id)
    assert ended.status == "cancelled" and ended.reason == "the automation was switched off"
    assert _titles(globex) == []


def test_deleting_the_deal_while_waiting_cancels_the_run_and_removes_its_waiter(globex: MotoStack) -> None:
    run = _start(globex, _waiting_process({"kind": "webhook", "event": "invoice_paid"}))

    globex.delete_deal(T, DEAL)
    globex.drain()
    globex.advance(days=8)

    ended = _run(globex, run.run_id)
    assert ended.status == "cancelled" and ended.reason == "the deal was deleted"
    assert _waiters(globex) == [] and _titles(globex) == []


def _with_goal(process: BusinessProcess) -> BusinessProcess:
    won = {"name": "deal won", "condition": {"field": "stage_id", "op": "equals", "value": "won"}}
    return BusinessProcess.model_validate(process.model_dump(mode="json", exclude_none=True) | {"goal": won})


def test_a_goal_met_while_waiting_ends_the_run_when_the_event_comes_and_nothing_is_done(globex: MotoStack) -> None:
    run = _start(globex, _with_goal(_waiting_process({"kind": "webhook", "event": "invoice_paid"})))
    globex.move_deal(T, DEAL, "won")
    globex.drain()

    assert _paid(globex, "evt-after-won")["resumed"] == [run.run_id]

    done = _run(globex, run.run_id)
    assert (done.status, done.reason) == ("goal_met", "goal met: deal won")
    assert _titles(globex) == []  # not the received branch's task
    assert _waiters(globex) == []


def test_a_goal_met_while_waiting_ends_the_run_at_its_timeout_too(globex: MotoStack) -> None:
    run = _start(globex, _with_goal(_waiting_process({"kind": "webhook", "event": "invoice_paid"}, {"days": 3})))
    globex.move_deal(T, DEAL, "won")
    globex.drain()
    globex.advance(days=3)

    assert (_run(globex, run.run_id).status, _titles(globex)) == ("goal_met", [])
