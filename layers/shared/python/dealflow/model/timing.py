"""When a business process starts by the clock rather than on a change: a ``schedule`` (a cron or
rate expression in a time zone, run for every item its filter matches) or an ``on_date`` trigger
(N days or hours before or after the date in a field of each item, whatever its stage).

The expression's grammar and the time zone are checked when the process is saved
(``dealflow.language.schedules``); here only their shape."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dealflow.model.base import Id, Model
from dealflow.model.conditions import Condition


class Schedule(Model):
    """Run the process for every item of its entity (and ``pipeline_id``, when it has one) that
    the filter matches, each time the expression fires."""

    expression: str = Field(
        min_length=1,
        max_length=120,
        description="EventBridge Scheduler syntax: cron(minutes hours day-of-month month day-of-week year) "
        "or rate(N minutes|hours|days)",
    )
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone the cron expression reads in")
    stage_ids: list[Id] = Field(
        default_factory=list, max_length=100, description="Only items in these stages (needs pipeline_id)"
    )
    condition: Condition | None = Field(default=None, description="Only items this condition holds for")


class DateTrigger(Model):
    """Run the process for each item when the date in ``field`` comes, shifted by days and hours
    (negative: before it). A date without a time is read at ``time`` in ``timezone``."""

    field: str = Field(min_length=1, max_length=64, description="A date field of the item")
    days: int = Field(default=0, ge=-3650, le=3650)
    hours: int = Field(default=0, ge=-87600, le=87600)
    time: str = Field(
        default="00:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="Time of day of a date (HH:MM)"
    )
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone of the date")

    @property
    def offset_seconds(self) -> int:
        return (self.days * 24 + self.hours) * 3600

    @model_validator(mode="after")
    def _not_both_signs(self) -> DateTrigger:
        if self.days * self.hours < 0:
            raise ValueError("days and hours: give both before (negative) or both after the date")
        return self


TimerKind = Literal["arm", "schedule", "date"]


class Timer(Model):
    """Something due at ``due_at`` (UTC, ``YYYY-MM-DDTHH:MM:SSZ``), found by the tick when it comes:
    ``arm`` — a timed process of the tenant was saved, work out its timers (always due);
    ``schedule`` — a schedule's next fire time; ``date`` — an item's date-field trigger.
    ``spec`` tells which version of the schedule or date trigger armed it: one saved since with a
    different spec makes it stale (it is dropped, the new spec's timer stands)."""

    kind: TimerKind
    tenant_id: Id
    due_at: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    automation_id: Id | None = None
    deal_id: Id | None = None
    spec: str | None = None
    date_value: str | None = Field(default=None, max_length=40, description="The date the timer was armed for")


TimerJobKind = Literal["fire", "arm_dates"]


class TimerJob(Model):
    """What the timer queue carries, one page of items per turn: ``fire`` a schedule's fire time on
    every matching item, or ``arm_dates`` the date timers of every item of a date-triggered process.
    ``after`` is the id the next page starts after (None: from the first item)."""

    kind: TimerJobKind
    tenant_id: Id
    automation_id: Id
    spec: str
    fire_time: str | None = None
    after: str | None = None
    started: int = Field(default=0, ge=0, description="Runs started (fire) or timers armed (arm_dates) so far")
