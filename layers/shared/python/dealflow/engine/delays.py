"""When a delay ends: a fixed time from now, or a moment relative to a date field of the item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dealflow.model import Deal
from dealflow.model.automation import Delay


class DelayError(ValueError):
    """The delay cannot be worked out (its date field is empty or not a date)."""


def wake_moment(delay: Delay, item: Deal, now: datetime) -> datetime:
    """The moment ``delay`` ends for ``item``; it may lie in the past (one day before yesterday's deadline)."""
    if delay.relative_to_field is None:
        return now + timedelta(seconds=delay.seconds)
    raw = item.value(delay.relative_to_field)
    if not raw:
        raise DelayError(f"the deal's field '{delay.relative_to_field}' is empty")
    try:
        anchor = datetime.fromisoformat(str(raw))
    except ValueError:
        raise DelayError(f"the deal's field '{delay.relative_to_field}' is not a date: {raw!r}") from None
    anchor = anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)
    return anchor + timedelta(seconds=delay.seconds)


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds to wait for ``moment``; none when it has passed."""
    return max(0, int((moment - now).total_seconds()))
