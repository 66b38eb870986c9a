"""Working-time arithmetic: weekends, holidays, several intervals a day, both daylight-saving
changes, a user's own calendar, and spans that hold no working time at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dealflow.engine.working_time import MAX_SPAN_DAYS, WorkingTime, WorkingTimeError
from dealflow.model.calendar import Calendar, UserCalendar

WARSAW = ZoneInfo("Europe/Warsaw")
WEEK = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def _warsaw(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=WARSAW)


def _office(**changes: object) -> WorkingTime:
    return WorkingTime.of(Calendar.model_validate({"time_zone": "Europe/Warsaw", "hours": WEEK, **changes}))


def test_two_working_hours_from_friday_afternoon_end_on_monday_morning() -> None:
    due = _office().after_hours(_warsaw(2026, 11, 13, 16, 0), 2 * 3600)
    assert due == _warsaw(2026, 11, 16, 10, 0)


def test_a_holiday_on_monday_moves_the_end_to_tuesday() -> None:
    due = _office(holidays=["2026-11-16"]).after_hours(_warsaw(2026, 11, 13, 16, 0), 2 * 3600)
    assert due == _warsaw(2026, 11, 17, 10, 0)


def test_the_weekend_the_clocks_go_forward() -> None:
    # Friday 16:00 CET (+01:00) plus two working hours: Monday 10:00 CEST (+02:00), 08:00 UTC.
    due = _office().after_hours(_warsaw(2026, 3, 27, 16, 0), 2 * 3600)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert due.astimezone(WARSAW).hour == 10


def test_the_weekend_the_clocks_go_back() -> None:
    # Friday 16:00 CEST (+02:00) plus two working hours: Monday 10:00 CET (+01:00), 09:00 UTC.
    due = _office().after_hours(_warsaw(2026, 10, 23, 16, 0), 2 * 3600)
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    assert due.astimezone(WARSAW).hour == 10


def test_an_interval_across_the_skipped_hour_is_an_hour_shorter_and_across_the_repeated_one_longer() -> None:
    night = _office(hours={"sun": ["01:00-05:00"]})
    [(start, end)] = night.spans_on(date(2026, 3, 29))  # 02:00-03:00 does not exist that night
    assert end - start == timedelta(hours=3)
    [(start, end)] = night.spans_on(date(2026, 10, 25))  # 02:00-03:00 happens twice
    assert end - start == timedelta(hours=5)


def test_a_skipped_wall_time_stands_for_the_instant_the_clock_jumps() -> None:
    night = _office(hours={"sun": ["02:30-04:00"]})
    [(start, end)] = night.spans_on(date(2026, 3, 29))
    assert start == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, when 02:00 became 03:00
    assert end - start == timedelta(hours=1)


def test_several_intervals_a_day_skip_the_lunch_break() -> None:
    split = _office(hours={"wed": ["09:00-12:00", "13:00-17:00"]})
    assert split.after_hours(_warsaw(2026, 11, 18, 11, 0), 2 * 3600) == _warsaw(2026, 11, 18, 14, 0)
    assert split.after_hours(_warsaw(2026, 11, 18, 16, 0), 2 * 3600) == _warsaw(2026, 11, 25, 10, 0)


def test_next_open_is_the_moment_itself_within_hours_and_the_next_opening_outside() -> None:
    office = _office()
    assert office.next_open(_warsaw(2026, 11, 18, 11, 0)) == _warsaw(2026, 11, 18, 11, 0)
    assert office.next_open(_warsaw(2026, 11, 14, 11, 0)) == _warsaw(2026, 11, 16, 9, 0)  # Saturday
    assert office.next_open(_warsaw(2026, 11, 18, 17, 0)) == _warsaw(2026, 11, 19, 9, 0)  # closing time
    assert not office.is_working(_warsaw(2026, 11, 18, 17, 0))


def test_working_days_keep_the_time_of_day_and_skip_weekends_and_holidays() -> None:
    office = _office(holidays=["2026-11-16"])
    assert office.after_days(_warsaw(2026, 11, 13, 16, 0), 1) == _warsaw(2026, 11, 17, 16, 0)
    # After hours on Friday: the day starts when working time opens (Tuesday, Monday being off).
    assert office.after_days(_warsaw(2026, 11, 13, 20, 0), 1) == _warsaw(2026, 11, 18, 9, 0)
    assert _office().after_days(_warsaw(2026, 11, 13, 16, 0), 5) == _warsaw(2026, 11, 20, 16, 0)


def test_a_users_own_zone_and_hours_and_days_out_of_office() -> None:
    tenant = Calendar(time_zone="Europe/Warsaw", hours=WEEK, holidays=[date(2026, 11, 11)])
    own = UserCalendar(
        time_zone="America/New_York",
        out_of_office=[{"start": "2026-11-16", "end": "2026-11-17"}],  # type: ignore[list-item]
    )
    user = WorkingTime.of(tenant, own)
    new_york = ZoneInfo("America/New_York")
    friday_afternoon = datetime(2026, 11, 13, 16, 0, tzinfo=new_york)
    assert user.after_hours(friday_afternoon, 2 * 3600) == datetime(2026, 11, 18, 10, 0, tzinfo=new_york)
    assert user.next_open(datetime(2026, 11, 11, 8, 0, tzinfo=new_york)) == datetime(
        2026, 11, 12, 9, 0, tzinfo=new_york
    )  # the tenant's holiday is the user's too


def test_a_calendar_with_no_working_time_in_reach_is_an_error_not_a_loop() -> None:
    away = UserCalendar(out_of_office=[{"start": "2026-01-01", "end": "2030-12-31"}])  # type: ignore[list-item]
    nobody = WorkingTime.of(Calendar(time_zone="UTC", hours=WEEK), away)
    with pytest.raises(WorkingTimeError, match=f"no working time within {MAX_SPAN_DAYS} days"):
        nobody.next_open(datetime(2026, 6, 1, tzinfo=UTC))
    with pytest.raises(WorkingTimeError):
        nobody.after_days(datetime(2026, 6, 1, tzinfo=UTC), 3)


@pytest.mark.parametrize(
    ("calendar", "problem"),
    [
        ({"time_zone": "Europe/Atlantis", "hours": WEEK}, "not an IANA time zone"),
        ({"time_zone": "UTC", "hours": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "mon: intervals overlap"),
        ({"time_zone": "UTC", "hours": {"tue": ["17:00-09:00"]}}, "tue.0: '17:00-09:00' ends before it starts"),
        ({"time_zone": "UTC", "hours": {"wed": ["9-5"]}}, "is not an interval HH:MM-HH:MM"),
        ({"time_zone": "UTC", "hours": {"mon": []}}, "name at least one working interval"),
        ({"time_zone": "UTC", "hours": {"someday": ["09:00-17:00"]}}, "hours.someday"),
    ],
)
def test_a_calendar_that_cannot_be_worked_out_is_refused_naming_the_field(
    calendar: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Calendar.model_validate(calendar)
    assert problem in str(raised.value)
