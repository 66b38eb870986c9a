"""Retries and early resumes on in-memory ports (``dealflow.engine.run_retries``): where a retry
starts, what it passes over, and what it refuses — effects counted in the recording outbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dealflow import clock
from dealflow.engine.compile_run import compile_run
from dealflow.engine.run_retries import RunConflict, places, resume, retry, retry_request
from dealflow.model import RunRecord, RunRequest
from tests.fakes import FakeDurable, FakeEngine, compiled_tenant
from tests.unit.test_interpreter import (
    EMAIL,
    FIELDS,
    NOW,
    PIPELINES,
    TENANT,
    action,
    deal,
    engine,
    process,
    request,
    rule,
)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    clock.use(lambda: NOW)
    yield
    clock.use(None)


class Starter:
    """``RunStarter``: the requests started (a name started before is refused, as Lambda does)."""

    def __init__(self) -> None:
        self.started: dict[str, RunRequest] = {}
        self.stopped: list[str] = []

    def start(self, request: RunRequest) -> bool:
        if request.run_id in self.started:
            return False
        self.started[request.run_id] = request
        return True

    def stop(self, execution_id: str) -> None:
        self.stopped.append(execution_id)


NOTIFY_OWNER = {"kind": "notify", "to": {"responsible": True}, "message": "Turn {{ var.turn }}"}
TURNS = process(
    [
        {
            "kind": "loop",
            "while": {"field": "var.turn", "op": "lt", "value": 2},
            "nodes": [
                {"kind": "set_variable", "variable": "turn", "expression": "var.turn + 1"},
                action({**EMAIL, "subject": "Turn {{ var.turn }}"}),
                action(NOTIFY_OWNER),
            ],
        }
    ],
    variables={"turn": {"type": "number", "value": 0}},
)


def _sent(found: FakeEngine, kind: str) -> list[str]:
    return [m.get("subject") or m.get("message") for m in found.outbox.sent if m["kind"] == kind]


def _failed_in_a_loop() -> tuple[FakeEngine, RunRecord]:
    found = engine(TURNS, deal(responsible_id="u-gone"))
    record, _ = found.run(request(TURNS, deal(responsible_id="u-gone")))
    assert record.status == "failed" and record.position == "n0.i0.n2-notify", record
    found.deals.items["d-1"] = deal()  # the owner is someone the tenant knows now
    return found, record


def _known() -> Any:
    return compiled_tenant(TENANT, pipelines=PIPELINES, fields=FIELDS, automation=[TURNS])


def test_a_retry_from_the_failed_step_resumes_in_the_loop_turn_it_failed_in_and_goes_on() -> None:
    found, failed = _failed_in_a_loop()
    assert _sent(found, "email") == ["Turn 1"]

    retried, _ = found.run(retry_request(failed, _known()))

    assert retried.status == "completed" and retried.retry_of == failed.run_id, retried.reason
    assert _sent(found, "email") == ["Turn 1", "Turn 2"]  # turn 1's e-mail not again; turn 2 as usual
    assert _sent(found, "notification") == ["Turn 1", "Turn 2"]


def test_a_retry_from_the_start_skips_the_effects_done_and_shows_them_duplicate() -> None:
    found, failed = _failed_in_a_loop()

    retried, _ = found.run(retry_request(failed, _known(), start="start"))

    assert retried.status == "completed"
    assert _sent(found, "email") == ["Turn 1", "Turn 2"]
    assert [s.outcome for s in retried.steps if s.name == "n0.i0.n1-send_email"] == ["duplicate"]


def test_what_is_not_retried_or_resumed_is_refused_with_the_reason() -> None:
    found, failed = _failed_in_a_loop()
    starter, known = Starter(), _known()
    completed = failed.model_copy(update={"status": "completed"})

    with pytest.raises(RunConflict, match="is completed, not failed"):
        retry(found.runs, starter, completed, known)
    with pytest.raises(RunConflict, match="what started it was not kept"):
        retry(found.runs, starter, failed.model_copy(update={"request": None}), known)
    with pytest.raises(RunConflict, match="is failed, not waiting"):
        resume(found.runs, starter, failed)

    first = retry(found.runs, starter, failed, known, request_id="a")
    assert retry(found.runs, starter, found.runs.records[failed.run_id], known, request_id="a") == first.__class__(
        first.run_id, first.new_run_id, False, first.start, first.version
    )
    with pytest.raises(RunConflict, match=f"retried already, by run '{first.new_run_id}'"):
        retry(found.runs, starter, found.runs.records[failed.run_id], known, request_id="b")
    assert list(starter.started) == [first.new_run_id]


def test_a_retry_on_the_current_version_needs_the_failed_place_in_it() -> None:
    _, failed = _failed_in_a_loop()
    shorter = process([action(EMAIL)])
    known = compiled_tenant(
        TENANT,
        pipelines=PIPELINES,
        fields=FIELDS,
        automation=[shorter.model_copy(update={"id": TURNS.id, "version": 2})],
    )

    with pytest.raises(RunConflict, match="does not have: retry it from the start"):
        retry_request(failed, known, version="current")
    assert retry_request(failed, known, version="current", start="start").automation.version == 2
    assert "n0.i0.n2-notify" in set(places(compile_run(TURNS).nodes))


def test_a_run_resumed_early_stops_the_wait_and_continues_after_it() -> None:
    waits = process([{"kind": "delay", "delay": {"days": 2}}, action(EMAIL)])
    found = engine(waits)
    found.run(request(waits), FakeDurable(suspend_at_waits=True))
    waiting = found.runs.records["run-1"]
    assert waiting.status == "waiting" and waiting.position == "n0"
    starter = Starter()

    continued = resume(found.runs, starter, waiting.model_copy(update={"execution_id": "arn:exec-1"}))

    assert starter.stopped == ["arn:exec-1"] and found.runs.records["run-1"].status == "cancelled"
    record, durable = found.run(starter.started[continued.new_run_id])
    assert record.status == "completed" and len(_sent(found, "email")) == 1
    assert durable.waits == [] and [s.outcome for s in record.steps][:2] == ["resumed early", "resumed early"]


def test_a_rule_that_failed_at_its_delay_waits_again_when_retried() -> None:
    automation = rule(delay={"days": -1, "relative_to_field": "deadline"})
    found = engine(automation)
    failed, _ = found.run(request(automation))  # no deadline: no moment to wait for
    assert failed.status == "failed" and failed.position == "delay", failed
    found.deals.items["d-1"] = deal(fields={"what_we_sell": "services", "deadline": "2026-03-10"})
    known = compiled_tenant(TENANT, pipelines=PIPELINES, fields=FIELDS, automation=[automation])

    retried, durable = found.run(retry_request(failed, known))

    assert [name for name, _ in durable.waits] == ["delay"] and retried.status == "completed"
    assert len(_sent(found, "email")) == 1
