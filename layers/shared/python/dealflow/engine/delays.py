"""When a delay ends: a fixed time from now, or a moment relative to a date field of the item.

A wait is capped by the durable engine (``dealflow.limits.MAX_WAIT_SECONDS``, 366 days): a longer
one fails the execution on AWS while the local runner would wait it out. Saving refuses a fixed
delay past the cap (``dealflow.authoring.budgets``); a delay relative to a date is only known when
the run works it out, so here it ends the run ``failed`` with the reason, on AWS and locally alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dealflow.engine.working_time import WorkingTime, WorkingTimeError
from dealflow.limits import MAX_WAIT_SECONDS
from dealflow.model import Deal
from dealflow.model.automation import Delay


class DelayError(ValueError):
    """The delay cannot be worked out (its date field is empty or not a date) or waited out (it
    ends further away than the durable engine can wait)."""


def wake_moment(delay: Delay, item: Deal, now: datetime) -> datetime:
    """The moment ``delay`` ends for ``item``; it may lie in the past (one day before yesterday's deadline)."""
    if delay.relative_to_field is None:
        return _within_cap(now + timedelta(seconds=delay.seconds), now)
    raw = item.value(delay.relative_to_field)
    if not raw:
        raise DelayError(f"the deal's field '{delay.relative_to_field}' is empty")
    try:
        anchor = datetime.fromisoformat(str(raw))
    except ValueError:
        raise DelayError(f"the deal's field '{delay.relative_to_field}' is not a date: {raw!r}") from None
    anchor = anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)
    return _within_cap(anchor + timedelta(seconds=delay.seconds), now)


def working_wake(delay: Delay | None, working: WorkingTime, now: datetime) -> datetime:
    """When a working-time delay ends, or (``delay`` None: an action held until working hours)
    when working time next opens: ``now`` itself when it is open."""
    try:
        if delay is None:
            moment = working.next_open(now)
        elif delay.working_days:
            moment = working.after_days(now, delay.working_days)
        else:
            moment = working.after_hours(now, delay.working_hours * 3600)
    except WorkingTimeError as exc:
        raise DelayError(str(exc)) from None
    return _within_cap(moment, now)


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds to wait for ``moment``; none when it has passed."""
    return max(0, int((moment - now).total_seconds()))


def _within_cap(moment: datetime, now: datetime) -> datetime:
    if seconds_until(moment, now) > MAX_WAIT_SECONDS:
        days = (moment - now) / timedelta(days=1)
        raise DelayError(
            f"it would end at {moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {days:,.0f} days from now; "
            f"a run can wait at most {MAX_WAIT_SECONDS // 86_400} days ({MAX_WAIT_SECONDS:,} s) at a time"
        )
    return moment
