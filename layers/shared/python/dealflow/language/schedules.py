"""Schedule expressions as people write them for EventBridge Scheduler, and when they fire.

``cron(minutes hours day-of-month month day-of-week year)`` — ``*``, ``?``, lists, ranges and
steps, month and weekday names (weekdays 1–7 are SUN–SAT, as EventBridge counts them); one of
day-of-month and day-of-week is ``?``. ``L``, ``W`` and ``#`` are refused with the reason.
``rate(N minute[s]|hour[s]|day[s])`` fires every N units counted from 1970-01-01 00:00 UTC, so its
fire times never depend on when the schedule was saved.

A cron expression reads in its time zone: a local time a daylight-saving change skips fires at the
same distance past the change (02:30 on a spring-forward night of a 02:00→03:00 jump is 03:30); one
it repeats fires once, the first time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {
    m: i
    for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)
}
_WEEKDAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
_RATE = re.compile(r"^rate\(\s*(\d{1,6})\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_HORIZON_DAYS = 366 * 8  # a cron that fires less often than this (a far year) fires never


class ScheduleError(ValueError):
    """An expression or time zone that cannot be read, with the reason."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone '{name}' (an IANA name such as Europe/Warsaw)") from exc


def _value(token: str, low: int, high: int, names: dict[str, int], what: str) -> int:
    found = names.get(token.upper()) if not token.isdigit() else int(token)
    if found is None or not low <= found <= high:
        raise ScheduleError(f"{what}: '{token}' is not between {low} and {high}")
    return found


def _field(text: str, low: int, high: int, what: str, names: dict[str, int] | None = None) -> frozenset[int] | None:
    """The values a field allows; None for ``*`` and ``?`` (any)."""
    if text in {"*", "?"}:
        return None
    if any(mark in text.upper() for mark in ("L", "W", "#")) and not any(n in text.upper() for n in (names or {})):
        raise ScheduleError(f"{what}: '{text}' uses L, W or #, which Dealflow's schedules do not support")
    allowed: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _value(step_text, 1, high, {}, what) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            first, last = _value(a, low, high, names or {}, what), _value(b, low, high, names or {}, what)
            if first > last:
                raise ScheduleError(f"{what}: range '{span}' runs backwards")
        else:
            first = _value(span, low, high, names or {}, what)
            last = high if step_text else first
        allowed.update(range(first, last + 1, step))
    return frozenset(allowed)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days: frozenset[int] | None
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 1 = Sunday
    years: frozenset[int] | None

    def _day_matches(self, day: date) -> bool:
        weekday = day.isoweekday() % 7 + 1  # Monday 1 → 2, Sunday 7 → 1
        return (
            (self.months is None or day.month in self.months)
            and (self.years is None or day.year in self.years)
            and (self.days is None or day.day in self.days)
            and (self.weekdays is None or weekday in self.weekdays)
        )

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        local = after.astimezone(tz)
        hours = sorted(self.hours) if self.hours is not None else range(24)
        minutes = sorted(self.minutes) if self.minutes is not None else range(60)
        day = local.date()
        for _ in range(_HORIZON_DAYS):
            if self._day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        at = wall.astimezone(UTC)
                        if at > after:
                            return at
            day += timedelta(days=1)
        return None


@dataclass(frozen=True)
class Rate:
    seconds: int

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        epoch = int(after.timestamp())
        return datetime.fromtimestamp((epoch // self.seconds + 1) * self.seconds, UTC)


def parse(expression: str) -> Cron | Rate:
    """The expression read, or ScheduleError saying what is wrong with it."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1:
            raise ScheduleError("rate: at least 1")
        return Rate(count * _UNIT_SECONDS[unit])
    cron = _CRON.match(text)
    if not cron:
        raise ScheduleError(
            "give cron(minutes hours day-of-month month day-of-week year) or rate(N minutes|hours|days)"
        )
    parts = cron.group(1).split()
    if len(parts) != 6:
        raise ScheduleError(
            f"cron takes 6 fields (minutes hours day-of-month month day-of-week year), not {len(parts)}"
        )
    if (parts[2] == "?") == (parts[4] == "?"):
        raise ScheduleError("cron: one of day-of-month and day-of-week must be '?', and only one")
    found = Cron(
        minutes=_field(parts[0], 0, 59, "minutes"),
        hours=_field(parts[1], 0, 23, "hours"),
        days=_field(parts[2], 1, 31, "day-of-month"),
        months=_field(parts[3], 1, 12, "month", _MONTHS),
        weekdays=_field(parts[4], 1, 7, "day-of-week", _WEEKDAYS),
        years=_field(parts[5], 1970, 2199, "year"),
    )
    return found


def next_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The first time after ``after`` the schedule fires (UTC); None when it never does again."""
    return parse(expression).next_after(after, zone(timezone))


def check(expression: str, timezone: str, now: datetime) -> list[tuple[str, str]]:
    """(field, problem) for an expression or time zone that cannot be read, or that never fires."""
    problems: list[tuple[str, str]] = []
    try:
        cadence = parse(expression)
    except ScheduleError as exc:
        problems.append(("expression", str(exc)))
        cadence = None
    try:
        tz = zone(timezone)
    except ScheduleError as exc:
        problems.append(("timezone", str(exc)))
        tz = None
    if cadence is not None and tz is not None and cadence.next_after(now, tz) is None:
        problems.append(("expression", "it never fires (no such day in the next eight years)"))
    return problems
