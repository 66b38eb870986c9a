"""Runs waiting for events, on in-memory fakes: the dispatcher looks for waiting runs only for a
tenant that has a wait_for node, a waiter is resumed once however often its event comes, and the
event handed to the run is bounded."""

from __future__ import annotations

import json
from typing import Any

from dealflow.engine.dispatcher import Dispatcher
from dealflow.engine.references import references_of
from dealflow.engine.waiting import MAX_EVENT_BYTES, Resumer, bounded_event, shown_by
from dealflow.engine.writes import writes_of
from dealflow.model import BusinessProcess
from dealflow.ports import Waiter
from tests.unit.test_dispatch import FakeLog, FakeStarter, automation, deal, handle, rule


def _process(enabled: bool = True) -> BusinessProcess:
    return BusinessProcess.model_validate(
        {
            "id": "p",
            "name": "Await payment",
            "start_on": ["manual"],
            "enabled": enabled,
            "nodes": [
                {
                    "kind": "condition",
                    "branches": [
                        {
                            "name": "big",
                            "condition": {"field": "amount", "op": "gte", "value": 1},
                            "nodes": [
                                {
                                    "kind": "wait_for",
                                    "until": {"kind": "stage_reached", "stage_id": "won"},
                                    "timeout": {"days": 1},
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )


class Registry:
    """``Waiters`` in memory; a claim removes the waiter, as the conditional delete does."""

    def __init__(self, *waiters: Waiter) -> None:
        self.items = {(w.run_id, w.position): w for w in waiters}

    def add(self, waiter: Waiter) -> None:
        self.items[(waiter.run_id, waiter.position)] = waiter

    def of_deal(self, tenant_id: str, deal_id: str) -> list[Waiter]:
        return [w for w in self.items.values() if (w.tenant_id, w.deal_id) == (tenant_id, deal_id)]

    def claim(self, waiter: Waiter) -> bool:
        return self.items.pop((waiter.run_id, waiter.position), None) is not None

    def forget(self, tenant_id: str, deal_id: str, run_id: str) -> None:
        self.items = {k: w for k, w in self.items.items() if w.run_id != run_id}


class Callbacks:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def resume(self, callback_id: str, payload: str) -> bool:
        self.sent.append((callback_id, json.loads(payload)))
        return True


def _waiter(until: dict[str, Any], on: str = "deal") -> Waiter:
    return Waiter("t1", "d1", "run-1", "n0", "cb-1", "p", on, until, "2026-12-09T00:00:00+00:00")


def test_a_tenant_without_wait_for_nodes_never_looks_for_waiting_runs() -> None:
    looked: list[str] = []
    loader = lambda tenant_id: automation(rule())  # noqa: E731
    d = Dispatcher(loader, FakeStarter(), FakeLog([]), on_waiting=lambda change, _: looked.append(change.deal_id))

    handle(d, deal("offer"), deal("won", version=2), "evt-1")

    assert looked == []
    assert not automation(rule()).index.waits_for_events
    assert automation(_process()).index.waits_for_events  # however deep the node sits
    assert not automation(_process(enabled=False)).index.waits_for_events


def test_a_tenant_with_one_looks_once_per_change_even_an_edit_that_moves_nothing() -> None:
    looked: list[str] = []
    loader = lambda tenant_id: automation(_process())  # noqa: E731
    d = Dispatcher(loader, FakeStarter(), FakeLog([]), on_waiting=lambda change, _: looked.append(change.deal_id))

    handle(d, deal("offer"), deal("offer", version=2, company="Fabrikam"), "evt-1")

    assert looked == ["d1"]


def test_a_change_that_shows_the_event_twice_resumes_the_waiting_run_once() -> None:
    registry, callbacks = Registry(_waiter({"kind": "stage_reached", "stage_id": "won"})), Callbacks()
    resumer = Resumer(registry, callbacks)

    first = resumer.on_change("t1", deal("won"), {})
    second = resumer.on_change("t1", deal("won", version=2), {})

    assert first == ["run-1"] and second == []
    assert callbacks.sent == [("cb-1", {"kind": "stage_reached", "pipeline_id": "sales", "stage_id": "won"})]


def test_a_webhook_waiter_is_not_resumed_by_a_deal_change_nor_by_another_event_kind() -> None:
    registry, callbacks = Registry(_waiter({"kind": "webhook", "event": "invoice_paid"}, on="webhook")), Callbacks()
    resumer = Resumer(registry, callbacks)

    assert resumer.on_change("t1", deal("won"), {}) == []
    assert resumer.on_webhook("t1", "d1", {"id": "e1", "kind": "incoming_call"}) == []
    assert resumer.on_webhook("t1", "d1", {"id": "e2", "kind": "invoice_paid", "data": {"n": 1}}) == ["run-1"]
    assert callbacks.sent == [("cb-1", {"id": "e2", "kind": "invoice_paid", "data": {"n": 1}})]


def test_a_field_condition_is_judged_on_the_deal_as_it_is_now() -> None:
    until = {"kind": "field", "condition": {"field": "amount", "op": "gte", "value": 10000}}

    assert shown_by(until, deal("offer"), {}) is None
    assert shown_by(until, deal("offer", amount=12000), {}) == {"kind": "field", "fields": {"amount": 12000}}


def test_an_event_too_big_for_the_run_keeps_everything_but_its_data() -> None:
    event = {"id": "e1", "kind": "custom", "data": {"blob": "x" * (2 * MAX_EVENT_BYTES)}}

    kept = json.loads(bounded_event(event))

    assert kept["id"] == "e1" and "data" not in kept
    assert kept["truncated"].startswith("the event's data exceeded 16,384 bytes")


def test_what_a_wait_for_names_and_its_branches_write_are_its_process_references() -> None:
    process = BusinessProcess.model_validate(
        {
            "id": "p",
            "name": "Await signature",
            "pipeline_id": "sales",
            "start_on": ["manual"],
            "nodes": [
                {
                    "kind": "wait_for",
                    "until": {"kind": "step_done", "step_id": "sign"},
                    "timeout": {"days": 3},
                    "timed_out": [{"kind": "action", "action": {"kind": "move_to_stage", "stage_id": "lost"}}],
                }
            ],
        }
    )

    refs = {(r.kind, r.name, r.at) for r in references_of(process)}
    writes = {(w.kind, w.name, w.at) for w in writes_of(process)}

    assert ("step", "sign", "nodes.0.until.step_id") in refs
    assert ("stage", "lost", "nodes.0.timed_out.0.action.stage_id") in writes  # the loop check sees it
