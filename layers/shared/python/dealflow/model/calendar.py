"""Working calendars: when a tenant (or one of its users) works.

A tenant's calendar is its IANA time zone, its working hours per weekday (several intervals a day
allowed: ``"mon": ["09:00-12:00", "13:00-17:00"]``) and its holidays (whole days off). A user may
have their own: another time zone, other hours (each left out means the tenant's), and out-of-office
date ranges. ``dealflow.engine.working_time`` does the arithmetic; delays in working time, actions
held until working hours and the ``assign`` action read them.
"""

from __future__ import annotations

import re
from datetime import date
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, PlainSerializer, model_validator

from dealflow.model.base import Model

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
MAX_HOLIDAYS = 1000
MAX_ABSENCES = 200

WeekHours = dict[Weekday, list[str]]
# Stored and answered as ISO text: DynamoDB has no date type.
Day = Annotated[date, PlainSerializer(date.isoformat, return_type=str)]


def minutes_of(interval: str) -> tuple[int, int]:
    """``"09:00-17:30"`` as minutes from midnight: (540, 1050)."""
    found = _INTERVAL.match(interval)
    if found is None:
        raise ValueError(f"'{interval}' is not an interval HH:MM-HH:MM (24-hour clock, end up to 24:00)")
    start = int(found[1]) * 60 + int(found[2])
    end = int(found[3]) * 60 + int(found[4])
    if end > 24 * 60:
        raise ValueError(f"'{interval}' ends after 24:00")
    if end <= start:
        raise ValueError(f"'{interval}' ends before it starts (an interval stays within one day)")
    return start, end


def _checked_hours(hours: WeekHours) -> WeekHours:
    for day, intervals in hours.items():
        spans = []
        for index, interval in enumerate(intervals):
            try:
                spans.append(minutes_of(interval))
            except ValueError as exc:
                raise ValueError(f"{day}.{index}: {exc}") from None
        spans.sort()
        for (_, end), (start, _) in pairwise(spans):
            if start < end:
                raise ValueError(f"{day}: intervals overlap")
        if len(intervals) > 12:
            raise ValueError(f"{day}: at most 12 intervals a day")
    return hours


def _checked_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone (such as Europe/Warsaw)") from None
    return name


# A tenant's and a user's calendar check their zone and hours alike.
TimeZone = Annotated[str, AfterValidator(_checked_zone)]
CheckedHours = Annotated[WeekHours, AfterValidator(_checked_hours)]


class Calendar(Model):
    """The tenant's working calendar. A weekday not named is a day off."""

    time_zone: TimeZone = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Warsaw")
    hours: CheckedHours = Field(description='Working intervals per weekday: {"mon": ["09:00-17:00"], ...}')
    holidays: list[Day] = Field(default_factory=list, max_length=MAX_HOLIDAYS, description="Whole days off")

    @model_validator(mode="after")
    def _works_sometime(self) -> Calendar:
        if not any(self.hours.values()):
            raise ValueError("hours: name at least one working interval")
        return self


class Absence(Model):
    """Out of office from ``start`` to ``end``, both days included."""

    start: Day
    end: Day

    @model_validator(mode="after")
    def _ordered(self) -> Absence:
        if self.end < self.start:
            raise ValueError("end: before start")
        return self


class UserCalendar(Model):
    """One user's own calendar: what is left out is the tenant's (time zone, hours); holidays are
    always the tenant's, out-of-office ranges always the user's."""

    time_zone: TimeZone | None = Field(default=None, max_length=64, description="IANA time zone; default: the tenant's")
    hours: CheckedHours | None = Field(default=None, description="Working intervals per weekday; default: the tenant's")
    out_of_office: list[Absence] = Field(default_factory=list, max_length=MAX_ABSENCES)

    @model_validator(mode="after")
    def _works_sometime(self) -> UserCalendar:
        if self.hours is not None and not any(self.hours.values()):
            raise ValueError("hours: name at least one working interval (or leave hours out for the tenant's)")
        return self


CalendarOf = Literal["tenant", "responsible_user"]
