"""A scheduled or date-started process with an enrollment rule admits its runs as a stage event's
are admitted: a deal kept out by the rule starts nothing, and the run log says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dealflow.local import MotoStack
from dealflow.model import BusinessProcess
from tests.integration.test_timed_triggers import MONDAY_0830, T, _deals, _process, _renewal, _until, stack

__all__ = ["stack"]  # the fixture, shared with the timed triggers' tests


def _stalled(stack: MotoStack) -> list[str]:
    return sorted(n.message for n in stack.notifications() if n.message.startswith("Stalled"))


def test_a_weekly_schedule_with_reenrollment_off_runs_once_per_deal(stack: MotoStack) -> None:
    _deals(stack, 2)
    stack.put_automation(T, _process(enrollment={"reenroll": "off"}))
    stack.tick()
    _until(stack, MONDAY_0830 + timedelta(minutes=31))
    assert stack.tick()["fired"] == 1
    assert _stalled(stack) == ["Stalled: Deal 0", "Stalled: Deal 1"]

    _until(stack, MONDAY_0830 + timedelta(days=7, minutes=31))
    assert stack.tick()["fired"] == 1  # the schedule fires; the rule keeps both deals out
    assert _stalled(stack) == ["Stalled: Deal 0", "Stalled: Deal 1"]
    runs = [r for r in stack.runs(T, "d-0000") if r.automation_id == "stalled-reminder"]
    assert sorted(r.status for r in runs) == ["completed", "not_started"]
    [kept_out] = [r for r in runs if r.status == "not_started"]
    assert kept_out.reason == "re-enrollment off: already ran on 2026-11-23"
    assert kept_out.started_by["event"] == "schedule" and kept_out.started_by["fire_time"] == "2026-11-30T09:00:00Z"
    assert [(s.name, s.outcome) for s in kept_out.steps] == [("enrollment", "not enrolled")]

    # The second fire's page delivered again: the same entry, nothing sent.
    _until(stack, MONDAY_0830 + timedelta(days=7, minutes=40))
    stack.tick()
    assert _stalled(stack) == ["Stalled: Deal 0", "Stalled: Deal 1"]
    assert len([r for r in stack.runs(T, "d-0000") if r.automation_id == "stalled-reminder"]) == 2


def test_a_date_trigger_with_reenrollment_off_does_not_run_again_when_the_date_moves(stack: MotoStack) -> None:
    renewal = _renewal(days=0, time="08:00").model_dump(mode="json", exclude_none=True)
    stack.put_automation(T, BusinessProcess.model_validate(renewal | {"enrollment": {"reenroll": "off"}}))
    stack.tick()
    _deals(stack, 1, contract_end="2026-11-24")
    _until(stack, datetime(2026, 11, 24, 8, 1, tzinfo=UTC))
    stack.tick()
    stack.update_deal(T, "d-0000", fields={"contract_end": "2026-11-26"})  # a new date: armed again
    stack.drain()
    _until(stack, datetime(2026, 11, 26, 8, 1, tzinfo=UTC))
    report = stack.tick()

    assert [n.message for n in stack.notifications() if n.message.startswith("Renew")] == ["Renew: Deal 0"]
    assert report["not_enrolled"] == 1 and report["started"] == 0
    runs = [r for r in stack.runs(T, "d-0000") if r.automation_id == "renewal-call"]
    [kept_out] = [r for r in runs if r.status == "not_started"]
    assert kept_out.reason == "re-enrollment off: already ran on 2026-11-24"
    assert kept_out.started_by["date_value"] == "2026-11-26"
