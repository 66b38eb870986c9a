"""The tick and its jobs on in-memory ports: what is due starts once, stale timers are dropped,
lateness is measured, a page that failed is done again without starting anything twice, and the
dispatcher arms date timers only for tenants that have date triggers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from dealflow import clock
from dealflow.engine.changes import diff
from dealflow.engine.timers import Clockwork, DateArming, tick, work_job
from dealflow.model import BusinessProcess, Deal, FieldDefinition, FieldKind, RunRequest
from dealflow.model.timing import Timer, TimerJob
from tests.fakes import (
    TENANT_ID,
    FakeAutomation,
    FakeDeals,
    FakeMetrics,
    FakeTimerQueue,
    FakeTimers,
    a_tenant,
    compiled_tenant,
    some_fields,
    some_pipelines,
)

NOW = datetime(2026, 11, 23, 9, 0, 20, tzinfo=UTC)


class Page(NamedTuple):
    items: list[Deal]
    after: str | None


class PagedDeals(FakeDeals):
    """Deals in id order, a page at a time, as DealStore.page reads them."""

    def page(
        self,
        tenant_id: str,
        *,
        entity: str,
        equals: dict[str, str],
        limit: int,
        after: str | None = None,
        matches: Callable[[Deal], bool] | None = None,
    ) -> Page:
        ordered = sorted(d for d in self.items if after is None or d > after)
        found = [
            self.items[i]
            for i in ordered[:limit]
            if all(getattr(self.items[i], k) == v for k, v in equals.items())
            and (matches is None or matches(self.items[i]))
        ]
        return Page(found, ordered[limit - 1] if len(ordered) > limit else None)


class Starts:
    def __init__(self, failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.names: dict[str, RunRequest] = {}
        self.failing = set(failing)

    def start(self, request: RunRequest) -> bool:
        if request.deal_id in self.failing:
            self.failing.discard(request.deal_id)
            raise RuntimeError("throttled")
        if request.run_id in self.names:
            return False
        self.names[request.run_id] = request
        return True


@pytest.fixture(autouse=True)
def at_nine() -> Iterator[None]:
    clock.use(lambda: NOW)
    yield
    clock.use(None)


def _deal(deal_id: str, stage: str = "new", **fields: Any) -> Deal:
    return Deal(tenant_id=TENANT_ID, id=deal_id, pipeline_id="sales", stage_id=stage, title=deal_id, fields=fields)


def _weekly() -> BusinessProcess:
    return BusinessProcess.model_validate(
        {
            "id": "weekly",
            "name": "Weekly",
            "start_on": ["schedule"],
            "pipeline_id": "sales",
            "schedule": {"expression": "cron(0 9 ? * MON *)", "stage_ids": ["new"]},
            "nodes": [{"kind": "set_variable", "variable": "seen", "value": "yes"}],
        }
    )


def _renewal(**on_date: Any) -> BusinessProcess:
    return BusinessProcess.model_validate(
        {
            "id": "renewal",
            "name": "Renewal",
            "start_on": ["date"],
            "on_date": {"field": "proposal_sent_on", "days": 7, **on_date},
            "nodes": [{"kind": "set_variable", "variable": "seen", "value": "yes"}],
        }
    )


def _clockwork(*processes: BusinessProcess, deals: list[Deal], starter: Starts | None = None) -> Clockwork:
    automation = FakeAutomation(a_tenant(), some_pipelines(), some_fields(), processes)
    return Clockwork(
        timers=FakeTimers(),
        queue=FakeTimerQueue(),
        load=automation.load,
        items=PagedDeals(*deals),
        starter=starter or Starts(),
        metrics=FakeMetrics(),
    )


def test_a_due_schedule_queues_its_fire_once_and_its_next_fire_time() -> None:
    work = _clockwork(_weekly(), deals=[])
    work.timers.request_arm(TENANT_ID)
    tick(work)  # armed: next Monday 09:00 is in a week (it is past 09:00 now)
    [timer] = work.timers.of("schedule")
    assert timer.due_at == "2026-11-30T09:00:00Z"
    work.timers.put(timer.model_copy(update={"due_at": "2026-11-23T09:00:00Z"}))  # as if armed last week

    report = tick(work)
    assert (report.fired, report.stale) == (1, 0)
    [job] = work.queue.queued
    assert (job.kind, job.fire_time) == ("fire", "2026-11-23T09:00:00Z")
    assert [t.due_at for t in work.timers.of("schedule")] == ["2026-11-30T09:00:00Z"]
    assert tick(work).fired == 0  # the same tick again: nothing more is due
    [(name, late, unit, dims)] = work.metrics.measured  # type: ignore[attr-defined]
    assert (name, late, unit, dims) == ("TimerLateness", 20.0, "Seconds", {"kind": "schedule"})


def test_a_schedule_saved_with_another_expression_drops_the_old_fire_time() -> None:
    work = _clockwork(_weekly(), deals=[])
    old = Timer(
        kind="schedule", tenant_id=TENANT_ID, automation_id="weekly", due_at="2026-11-23T09:00:00Z", spec="0" * 16
    )
    work.timers.put(old)
    report = tick(work)
    assert (report.fired, report.stale) == (0, 1) and work.queue.queued == []


def test_a_fire_pages_through_matching_deals_and_a_failed_page_is_done_again() -> None:
    deals = [_deal(f"d-{i:03d}") for i in range(250)] + [_deal("z-1", stage="won")]
    starts = Starts(failing={"d-120"})
    work = _clockwork(_weekly(), deals=deals, starter=starts)
    job = TimerJob(
        kind="fire", tenant_id=TENANT_ID, automation_id="weekly", spec=_spec(work), fire_time="2026-11-23T09:00:00Z"
    )

    turn = work_job(work, job)
    assert not turn.done and work.queue.queued == [turn.job] and turn.job.after == "d-099"  # the page of d-120 failed
    turn = work_job(work, work.queue.queued[-1])
    assert turn.done
    assert sorted(r.deal_id for r in starts.names.values()) == [f"d-{i:03d}" for i in range(250)]
    assert work_job(work, job).started == []  # the whole fire again: every name has started


def _spec(work: Clockwork) -> str:
    from dealflow.engine.timed_runs import spec_of

    process = work.load(TENANT_ID).by_id["weekly"]
    assert isinstance(process, BusinessProcess)
    return spec_of(process)


def test_a_date_timer_starts_its_run_once_and_a_moved_date_makes_it_stale() -> None:
    deal = _deal("d-1", proposal_sent_on="2026-11-16")  # due 7 days later: 2026-11-23 00:00
    work = _clockwork(_renewal(), deals=[deal])
    work.timers.request_arm(TENANT_ID)
    tick(work)
    [arming] = work.queue.queued
    assert arming.kind == "arm_dates"
    work.timers.put(
        Timer(
            kind="date",
            tenant_id=TENANT_ID,
            automation_id="renewal",
            deal_id="d-1",
            due_at="2026-11-23T00:00:00Z",
            spec=arming.spec,
            date_value="2026-11-16",
        )
    )
    stale = Timer(
        kind="date",
        tenant_id=TENANT_ID,
        automation_id="renewal",
        deal_id="d-1",
        due_at="2026-11-22T00:00:00Z",
        spec=arming.spec,
        date_value="2026-11-15",
    )
    work.timers.put(stale)

    report = tick(work)
    assert (report.started, report.stale) == (1, 1)
    [run] = work.starter.names.values()  # type: ignore[attr-defined]
    assert run.started_by.model_dump(exclude_none=True) == {
        "pipeline_id": "sales",
        "stage_id": "new",
        "event": "date",
        "date_field": "proposal_sent_on",
        "date_value": "2026-11-16",
        "due_at": "2026-11-23T00:00:00Z",
    }
    assert ("TimerLateness", 32420.0, "Seconds", {"kind": "date"}) in work.metrics.measured  # type: ignore[attr-defined]


def test_arming_puts_a_timer_for_each_deal_whose_date_is_still_ahead() -> None:
    deals = [_deal("d-1", proposal_sent_on="2026-11-20"), _deal("d-2", proposal_sent_on="2026-11-01"), _deal("d-3")]
    work = _clockwork(_renewal(time="08:00", timezone="Europe/Warsaw"), deals=deals)
    work.timers.request_arm(TENANT_ID)
    tick(work)
    work_job(work, work.queue.queued[0])
    assert [(t.deal_id, t.due_at) for t in work.timers.of("date")] == [("d-1", "2026-11-27T07:00:00Z")]
    work.timers.request_arm(TENANT_ID)  # saved again, same trigger: no second arming job
    tick(work)
    assert len(work.queue.queued) == 1


def test_the_dispatcher_arms_a_changed_date_and_nothing_for_tenants_without_date_triggers() -> None:
    before = _deal("d-1", proposal_sent_on="2026-12-01")
    after = before.model_copy(update={"fields": {"proposal_sent_on": "2026-12-10"}, "version": 2})
    timers = FakeTimers()
    arming = DateArming(timers)
    known = compiled_tenant(automation=[_renewal()], fields=some_fields())
    assert set(known.index.dated) == {"proposal_sent_on"}
    arming(diff(before, after), known)
    assert [(t.date_value, t.due_at) for t in timers.of("date")] == [("2026-12-10", "2026-12-17T00:00:00Z")]
    arming(diff(after, after.model_copy(update={"title": "renamed", "version": 3})), known)
    assert len(timers.of("date")) == 1  # the date did not change: nothing armed
    assert compiled_tenant(automation=[_weekly()]).index.dated == {}


def test_saving_a_process_whose_date_field_is_not_a_date_is_flagged() -> None:
    fields = [*some_fields(), FieldDefinition(code="notes", name="Notes", kind=FieldKind.TEXT)]
    known = compiled_tenant(automation=[_renewal(field="notes")], fields=fields)
    assert known.warnings["renewal"] == [
        "field 'notes' is a text field now; a date trigger needs a date field (on_date.field)"
    ]


def test_date_timers_due_together_all_start_and_a_failed_start_stays_due_until_it_starts() -> None:
    deals = [_deal(f"d-{i:03d}", proposal_sent_on="2026-11-16") for i in range(150)]
    starts = Starts(failing={"d-007"})
    work = _clockwork(_renewal(), deals=deals, starter=starts)
    work.timers.request_arm(TENANT_ID)
    tick(work)
    spec = work.queue.queued[0].spec
    for deal in deals:
        work.timers.put(
            Timer(
                kind="date",
                tenant_id=TENANT_ID,
                automation_id="renewal",
                deal_id=deal.id,
                due_at="2026-11-23T00:00:00Z",
                spec=spec,
                date_value="2026-11-16",
            )
        )

    report = tick(work)
    # d-007's start failed in the first read of 100; it stayed due and the next read started it.
    assert (report.started, report.failed) == (150, 1)
    assert work.timers.of("date") == [] and len(starts.names) == 150
    assert tick(work).started == 0
