"""Schedule expressions as EventBridge Scheduler reads them, and when they fire: across a
daylight-saving change, on weekdays, at a rate; what saving refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dealflow.language.schedules import ScheduleError, check, next_fire, parse


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_weekly_cron_fires_on_its_weekday_at_local_time() -> None:
    # Friday 27 March 2026; Warsaw moves to summer time on Sunday 29 March.
    assert next_fire("cron(0 9 ? * MON *)", "Europe/Warsaw", at("2026-03-27T12:00:00+00:00")) == at(
        "2026-03-30T07:00:00+00:00"  # 09:00 summer time
    )
    assert next_fire("cron(0 9 ? * MON-FRI *)", "Europe/Warsaw", at("2026-03-27T12:00:00+00:00")) == at(
        "2026-03-30T07:00:00+00:00"
    )
    assert next_fire("cron(0 9 ? * 2 *)", "UTC", at("2026-03-27T12:00:00+00:00")) == at("2026-03-30T09:00:00+00:00")


def test_a_time_the_spring_change_skips_fires_after_it_and_one_it_repeats_fires_once() -> None:
    skipped = next_fire("cron(30 2 * * ? *)", "Europe/Warsaw", at("2026-03-28T12:00:00+00:00"))
    assert skipped == at("2026-03-29T01:30:00+00:00")  # 03:30 summer time, the jump's distance past 02:30
    repeated = next_fire("cron(30 2 * * ? *)", "Europe/Warsaw", at("2026-10-24T12:00:00+00:00"))
    assert repeated == at("2026-10-25T00:30:00+00:00")  # the first 02:30 (summer time)
    assert next_fire("cron(30 2 * * ? *)", "Europe/Warsaw", repeated) == at("2026-10-26T01:30:00+00:00")


def test_lists_ranges_steps_and_month_names() -> None:
    start = at("2026-01-01T00:00:00+00:00")
    assert next_fire("cron(0/15 8-9 1,15 JAN,JUL ? *)", "UTC", start) == at("2026-01-01T08:00:00+00:00")
    assert next_fire("cron(0/15 8-9 1,15 JAN,JUL ? *)", "UTC", at("2026-01-01T09:45:00+00:00")) == at(
        "2026-01-15T08:00:00+00:00"
    )
    assert next_fire("cron(0 0 1 * ? 2027)", "UTC", start) == at("2027-01-01T00:00:00+00:00")


def test_a_rate_counts_from_the_epoch_whenever_it_was_saved() -> None:
    assert next_fire("rate(15 minutes)", "UTC", at("2026-03-28T12:07:00+00:00")) == at("2026-03-28T12:15:00+00:00")
    assert next_fire("rate(1 hour)", "Europe/Warsaw", at("2026-03-28T12:00:00+00:00")) == at(
        "2026-03-28T13:00:00+00:00"
    )
    assert next_fire("rate(2 days)", "UTC", at("2026-03-28T12:00:00+00:00")).hour == 0


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("every monday", "give cron(minutes hours day-of-month month day-of-week year) or rate(N minutes|hours|days)"),
        ("cron(0 9 * * *)", "cron takes 6 fields (minutes hours day-of-month month day-of-week year), not 5"),
        ("cron(0 9 * * MON *)", "cron: one of day-of-month and day-of-week must be '?', and only one"),
        ("cron(0 25 * * ? *)", "hours: '25' is not between 0 and 23"),
        ("cron(0 9 ? * 6L *)", "day-of-week: '6L' uses L, W or #, which Dealflow's schedules do not support"),
        ("cron(0 9 5-1 * ? *)", "day-of-month: range '5-1' runs backwards"),
        ("rate(0 minutes)", "rate: at least 1"),
    ],
)
def test_what_cannot_be_read_says_why(expression: str, problem: str) -> None:
    with pytest.raises(ScheduleError) as refused:
        parse(expression)
    assert str(refused.value) == problem


def test_saving_names_the_expression_or_the_time_zone_and_a_schedule_that_never_fires() -> None:
    now = at("2026-03-28T12:00:00+00:00")
    assert check("cron(0 9 ? * MON *)", "Europe/Warsaw", now) == []
    assert check("cron(0 9 ? * MON *)", "Europe/Atlantis", now) == [
        ("timezone", "unknown time zone 'Europe/Atlantis' (an IANA name such as Europe/Warsaw)")
    ]
    assert check("cron(0 9 1 JAN ? 2020)", "UTC", now) == [
        ("expression", "it never fires (no such day in the next eight years)")
    ]
