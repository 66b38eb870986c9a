"""Working-time arithmetic: pure, on aware datetimes, in the calendar's own time zone.

Working hours are wall-clock intervals of a weekday ("09:00-17:00" in Europe/Warsaw); what they
last is real time, so on the night a clock goes forward an interval across the gap is an hour
shorter, and on the night it goes back an hour longer. A wall time the clock skips (02:30 on the
spring-forward night) stands for the instant the clock jumps; a wall time it passes twice opens
an interval at its first pass and closes one at its second.

``working_days`` is "the same time on the N-th next working day": a deal that arrives on Friday
at 16:00 with one working day to wait is due on Monday at 16:00 (Tuesday, when Monday is a
holiday); a moment outside working hours counts from when working time next opens (Friday 20:00
plus one working day is Tuesday 09:00: the day starts Monday 09:00). When the same time on the
due day is outside that day's hours, it is the next working moment after it.

Every search looks at most ``MAX_SPAN_DAYS`` ahead: a calendar with no working time in that span
(every day a holiday, a user out of office for years) is a ``WorkingTimeError``, not a loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dealflow.model.calendar import WEEKDAYS, Calendar, UserCalendar, minutes_of

MAX_SPAN_DAYS = 800  # the longest durable wait (366 days) and then some

Span = tuple[datetime, datetime]


class WorkingTimeError(ValueError):
    """No working time within the span searched."""


@dataclass(frozen=True, slots=True)
class WorkingTime:
    """One calendar ready for arithmetic: its zone, wall-clock minutes per weekday (0 = Monday),
    days off (holidays, out of office)."""

    zone: ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    days_off: frozenset[date]
    absences: tuple[tuple[date, date], ...] = ()

    @classmethod
    def of(cls, calendar: Calendar, user: UserCalendar | None = None) -> WorkingTime:
        """The tenant's calendar, or a user's: their zone and hours where they set them, the
        tenant's holidays and their own out-of-office ranges as days off."""
        zone = (user.time_zone if user else None) or calendar.time_zone
        hours = (user.hours if user else None) or calendar.hours
        week = tuple(tuple(sorted(minutes_of(i) for i in hours.get(day, []))) for day in WEEKDAYS)
        absences = tuple((a.start, a.end) for a in user.out_of_office) if user else ()
        return cls(ZoneInfo(zone), week, frozenset(calendar.holidays), absences)

    def is_day_off(self, day: date) -> bool:
        return day in self.days_off or any(start <= day <= end for start, end in self.absences)

    def spans_on(self, day: date) -> list[Span]:
        """The day's working intervals as UTC instants (none on a day off)."""
        if self.is_day_off(day):
            return []
        return [
            (self._instant(day, start, first=True), self._instant(day, end, first=False))
            for start, end in self.week[day.weekday()]
        ]

    def _instant(self, day: date, minutes: int, *, first: bool) -> datetime:
        if minutes >= 24 * 60:  # the end of the day is the next day's midnight
            return self._instant(day + timedelta(days=1), 0, first=True)
        wall = datetime.combine(day, time(minutes // 60, minutes % 60), self.zone)
        early = wall.replace(fold=0).astimezone(UTC)
        late = wall.replace(fold=1).astimezone(UTC)
        if early <= late:  # an ordinary time (equal), or one the clock passes twice (fold)
            return early if first else late
        return self._jump(late, early)  # skipped by the clock: the instant it jumps

    def _jump(self, before: datetime, after: datetime) -> datetime:
        """The instant in (``before``, ``after``] where the zone's offset changes: zones change
        on whole minutes, so halve the gap to a minute and take the whole minute in it."""
        first = before.astimezone(self.zone).utcoffset()
        low, high = before, after
        while high - low > timedelta(minutes=1):
            middle = low + (high - low) / 2
            if middle.astimezone(self.zone).utcoffset() == first:
                low = middle
            else:
                high = middle
        return high.replace(second=0, microsecond=0)

    def _spans_from(self, moment: datetime) -> Iterator[Span]:
        """Working intervals that end after ``moment``, clipped to start no earlier, in order."""
        first = moment.astimezone(self.zone).date() - timedelta(days=1)  # an interval across midnight
        for offset in range(MAX_SPAN_DAYS + 1):
            for start, end in self.spans_on(first + timedelta(days=offset)):
                if end > moment:
                    yield max(start, moment), end
        raise WorkingTimeError(f"no working time within {MAX_SPAN_DAYS} days of {moment:%Y-%m-%d}")

    def is_working(self, moment: datetime) -> bool:
        return self.next_open(moment) == moment

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` itself when it is working time, else when working time next opens."""
        start, _ = next(self._spans_from(moment))
        return start

    def after_hours(self, moment: datetime, seconds: int) -> datetime:
        """The instant when ``seconds`` of working time have passed since ``moment``."""
        left = timedelta(seconds=seconds)
        for start, end in self._spans_from(moment):
            if end - start >= left:
                return start + left
            left -= end - start
        raise AssertionError("unreachable: _spans_from raises when it runs out")

    def after_days(self, moment: datetime, days: int) -> datetime:
        """The same wall time on the ``days``-th next working day (see the module's note)."""
        opened = self.next_open(moment).astimezone(self.zone)
        day, counted = opened.date(), 0
        for _ in range(MAX_SPAN_DAYS):
            if counted == days:
                break
            day += timedelta(days=1)
            if self.spans_on(day):
                counted += 1
        else:
            raise WorkingTimeError(f"fewer than {days} working days within {MAX_SPAN_DAYS} days")
        wall = datetime.combine(day, opened.time().replace(tzinfo=None), self.zone)
        return self.next_open(wall.astimezone(UTC))
