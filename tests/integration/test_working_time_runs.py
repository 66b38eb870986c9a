"""Working time through the local runner on the harness clock: working-time delays across a
weekend, a holiday and both daylight-saving changes; actions held until working hours (the
tenant's, the responsible user's); and what test mode says of them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.model import Delay, Rule
from dealflow.model.calendar import Calendar, UserCalendar

WEEK = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def _stack(start: datetime, holidays: list[str] | None = None) -> Iterator[MotoStack]:
    with MotoStack(start=start) as stack:
        set_up(stack)
        tenant = stack.automation.get_tenant(TENANT)
        calendar = Calendar.model_validate({"time_zone": "Europe/Warsaw", "hours": WEEK, "holidays": holidays or []})
        stack.put_tenant(tenant.model_copy(update={"calendar": calendar}))
        yield stack


def _rule(**parts: object) -> Rule:
    return Rule.model_validate(
        {
            "id": "call-back",
            "name": "Call back within two working hours",
            "pipeline_id": "sales",
            "stage_id": "proposal",
            "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "Call back: {{ deal.title }}"}],
            **parts,
        }
    )


def _enter(stack: MotoStack, deal_id: str = "d-1") -> None:
    stack.create_deal(demo_deal(deal_id, f"Proposal {deal_id}", "5200.00", "services"))
    stack.move_deal(TENANT, deal_id, "proposal")
    stack.drain()


def _run(stack: MotoStack, deal_id: str = "d-1") -> object:
    [run] = [r for r in stack.runs(TENANT, deal_id) if r.automation_id == "call-back"]
    return run


def _until(stack: MotoStack, moment: datetime) -> int:
    return int((moment - stack.clock.now()).total_seconds() // 60)


@pytest.mark.parametrize(
    ("start", "holidays", "due", "shown"),
    [
        pytest.param(  # Friday 16:00 CET; the clocks go forward on Sunday
            datetime(2026, 3, 27, 15, 0, tzinfo=UTC),
            [],
            datetime(2026, 3, 30, 8, 0, tzinfo=UTC),
            "Mon 2026-03-30 10:00 Europe/Warsaw",
            id="weekend-and-clocks-forward",
        ),
        pytest.param(  # Friday 16:00 CEST; the clocks go back on Sunday
            datetime(2026, 10, 23, 14, 0, tzinfo=UTC),
            [],
            datetime(2026, 10, 26, 9, 0, tzinfo=UTC),
            "Mon 2026-10-26 10:00 Europe/Warsaw",
            id="weekend-and-clocks-back",
        ),
        pytest.param(  # Friday 16:00 CET, Monday a holiday
            datetime(2026, 11, 13, 15, 0, tzinfo=UTC),
            ["2026-11-16"],
            datetime(2026, 11, 17, 9, 0, tzinfo=UTC),
            "Tue 2026-11-17 10:00 Europe/Warsaw",
            id="weekend-and-holiday",
        ),
    ],
)
def test_a_working_hours_delay_waits_out_the_weekend_the_holiday_and_the_clock_change(
    start: datetime, holidays: list[str], due: datetime, shown: str
) -> None:
    for stack in _stack(start, holidays):
        stack.put_rule(TENANT, _rule(delay={"working_hours": 2}))
        _enter(stack)
        run = _run(stack)
        assert run.status == "waiting" and run.wake_at == due.isoformat(timespec="milliseconds")

        stack.advance(minutes=_until(stack, due) - 1)
        assert stack.notifications() == []

        stack.advance(minutes=1)
        [sent] = stack.notifications()
        assert sent.message == "Call back: Proposal d-1"
        run = _run(stack)
        assert run.status == "completed"
        [wait] = [s for s in run.steps if s.kind == "wait"]
        assert wait.detail["until"] == shown


def test_a_working_days_delay_keeps_the_time_of_day() -> None:
    for stack in _stack(datetime(2026, 11, 13, 15, 0, tzinfo=UTC), ["2026-11-16"]):  # Friday 16:00
        stack.put_rule(TENANT, _rule(delay={"working_days": 1}))
        _enter(stack)
        assert _run(stack).wake_at == "2026-11-17T15:00:00.000+00:00"  # Tuesday 16:00


def test_an_action_held_until_working_hours_goes_out_when_the_office_opens() -> None:
    for stack in _stack(datetime(2026, 11, 14, 9, 0, tzinfo=UTC)):  # Saturday 10:00 in Warsaw
        notify = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "New proposal: {{ deal.title }}"}
        stack.put_rule(TENANT, _rule(actions=[{**notify, "within_working_hours": "tenant"}]))
        _enter(stack)
        run = _run(stack)
        assert run.status == "waiting" and run.wake_at == "2026-11-16T08:00:00.000+00:00"

        stack.advance(minutes=_until(stack, datetime(2026, 11, 16, 8, 0, tzinfo=UTC)) - 1)
        assert stack.notifications() == []
        stack.advance(minutes=1)
        assert [n.message for n in stack.notifications()] == ["New proposal: Proposal d-1"]
        assert [s.name for s in _run(stack).steps] == ["check", "action-1-hold", "check", "action-1-notify"]


def test_within_working_hours_no_wait_is_added() -> None:
    for stack in _stack(datetime(2026, 11, 18, 10, 0, tzinfo=UTC)):  # Wednesday 11:00
        notify = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "New proposal"}
        stack.put_rule(TENANT, _rule(actions=[{**notify, "within_working_hours": "tenant"}]))
        _enter(stack)
        assert _run(stack).status == "completed" and len(stack.notifications()) == 1


def test_held_until_the_responsible_users_own_hours_and_skipping_their_days_off() -> None:
    for stack in _stack(datetime(2026, 11, 16, 13, 0, tzinfo=UTC)):  # Monday 14:00 in Warsaw, 08:00 in New York
        tenant = stack.automation.get_tenant(TENANT)
        own = UserCalendar.model_validate(
            {"time_zone": "America/New_York", "out_of_office": [{"start": "2026-11-16", "end": "2026-11-17"}]}
        )
        users = [u.model_copy(update={"calendar": own}) if u.id == "u-anna" else u for u in tenant.users]
        stack.put_tenant(tenant.model_copy(update={"users": users}))
        notify = {"kind": "notify", "to": {"responsible": True}, "message": "Yours: {{ deal.title }}"}
        stack.put_rule(TENANT, _rule(actions=[{**notify, "within_working_hours": "responsible_user"}]))
        _enter(stack)  # u-anna is responsible: back on Wednesday, 09:00 in New York
        assert _run(stack).wake_at == "2026-11-18T14:00:00.000+00:00"


def test_test_mode_says_until_when_it_would_wait() -> None:
    for stack in _stack(datetime(2026, 11, 14, 9, 0, tzinfo=UTC)):  # Saturday
        notify = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Hi"}
        stack.put_rule(
            TENANT, _rule(delay={"working_hours": 2}, actions=[{**notify, "within_working_hours": "tenant"}])
        )
        stack.create_deal(demo_deal("d-9", "Test", "1.00", "services"))
        run = stack.test_run(TENANT, "call-back", deal_id="d-9")
        waits = [s.detail.get("would") for s in run.steps if s.outcome == "would wait"]
        assert waits == [
            "would wait until Mon 2026-11-16 11:00 Europe/Warsaw",
            "would wait until Mon 2026-11-16 09:00 Europe/Warsaw",  # test mode skips the delay itself
        ]
        assert stack.notifications() == []


def test_without_a_tenant_calendar_working_time_is_skipped_as_broken_or_fails_the_waiting_run() -> None:
    with MotoStack(start=datetime(2026, 11, 13, 15, 0, tzinfo=UTC)) as stack:
        set_up(stack)
        stack.put_rule(TENANT, _rule(delay=Delay(working_hours=2)))  # the harness saves it unchecked
        _enter(stack)
        run = _run(stack)
        assert run.status == "skipped"
        assert run.reason == "broken references: the tenant's working calendar no longer exists (delay.working_hours)"

    for stack in _stack(datetime(2026, 11, 13, 15, 0, tzinfo=UTC)):
        notify = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Hi"}
        stack.put_rule(TENANT, _rule(delay={"days": 1}, actions=[{**notify, "within_working_hours": "tenant"}]))
        _enter(stack)
        tenant = stack.automation.get_tenant(TENANT)
        stack.put_tenant(tenant.model_copy(update={"calendar": None}))  # removed while the run waits
        stack.advance(days=1)
        run = _run(stack)
        assert run.status == "failed" and stack.notifications() == []
        assert run.reason == "action-1-hold: the tenant has no working calendar (set one with PUT /calendar)"
