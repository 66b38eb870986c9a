"""A business process counting working time, on the fake engine: the wait is worked out in a step,
so a replay after the wait (at a later "now") takes the recorded moment and names the same steps."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from dealflow import clock
from dealflow.engine.interpreter import execute_any
from dealflow.engine.run_ends import RunFailed
from dealflow.engine.run_requests import run_request
from dealflow.model import BusinessProcess, StageEntry
from dealflow.model.calendar import Calendar
from tests.fakes import (
    FakeAutomation,
    FakeDeals,
    FakeDurable,
    FakeEngine,
    Suspended,
    a_tenant,
    a_won_deal,
    some_pipelines,
)

WEEK = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
FRIDAY_4PM = datetime(2026, 11, 13, 15, 0, tzinfo=UTC)  # 16:00 in Warsaw


@pytest.fixture
def now() -> Iterator[list[datetime]]:
    moment = [FRIDAY_4PM]
    clock.use(lambda: moment[0])
    yield moment
    clock.use(None)


def _engine(process: BusinessProcess) -> FakeEngine:
    calendar = Calendar(time_zone="Europe/Warsaw", hours=WEEK, holidays=["2026-11-16"])  # type: ignore[arg-type,list-item]
    tenant = a_tenant(calendar=calendar)
    return FakeEngine(FakeAutomation(tenant, some_pipelines(), [], [process]), FakeDeals(a_won_deal()))


def _process() -> BusinessProcess:
    note = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Won: {{ deal.title }}"}
    return BusinessProcess.model_validate(
        {
            "id": "p1",
            "name": "Follow up in working time",
            "start_on": ["change"],
            "nodes": [
                {"kind": "delay", "delay": {"working_hours": 2}},
                {"kind": "action", "action": {**note, "within_working_hours": "tenant"}},
            ],
        }
    )


def test_a_working_time_wait_is_planned_in_a_step_and_replays_identically(now: list[datetime]) -> None:
    process = _process()
    engine = _engine(process)
    request = run_request(a_won_deal(), process, "e-1", StageEntry(pipeline_id="sales", stage_id="won").model_dump())
    durable = FakeDurable(suspend_at_waits=True)
    with contextlib.suppress(Suspended, RunFailed):
        execute_any(request, durable, engine.services)
    # Monday is a holiday: two working hours from Friday 16:00 end on Tuesday at 10:00 (09:00 UTC).
    assert durable.waits == [("n0-delay", int((datetime(2026, 11, 17, 9, 0, tzinfo=UTC) - FRIDAY_4PM).total_seconds()))]

    now[0] = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)  # woken: the replay must not plan again
    replay = durable.replay()
    execute_any(request, replay, engine.services)
    assert replay.step_names == ["start", "n0-plan", "n0-check", "n1-hold-plan", "n1-notify", "finish"]
    assert [m["message"] for m in engine.outbox.sent] == ["Won: Website"]
    record = engine.runs.records[request.run_id]
    [delay, hold] = [s for s in record.steps if s.kind == "wait"]
    assert delay.detail == {"seconds": 324000, "until": "Tue 2026-11-17 10:00 Europe/Warsaw"}
    assert hold.detail == {"seconds": 0, "until": "Tue 2026-11-17 10:00 Europe/Warsaw"}  # open: no wait
    assert record.status == "completed"
