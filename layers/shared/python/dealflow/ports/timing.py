"""The clock's side: timers due, pages of items a schedule or a date trigger works through, the
timer queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

# The models are named in signatures only: a function that uses a port does not load them all.
if TYPE_CHECKING:
    from dealflow.model import Deal
    from dealflow.model.timing import Timer, TimerJob


class Timers(Protocol):
    """What is due when (``dealflow.model.timing.Timer``): schedules' next fire times, items' date
    triggers, and requests to arm a tenant's timed processes after a save."""

    def put(self, timer: Timer) -> None:
        """Store a timer (the same one again is the same item)."""
        ...

    def due(self, now: str, limit: int) -> list[Timer]:
        """Up to ``limit`` timers due at ``now`` (UTC, as ``Timer.due_at``) or before, oldest first
        within each part of the store."""
        ...

    def remove(self, timer: Timer) -> None: ...

    def request_arm(self, tenant_id: str) -> None:
        """Have the next tick work out the tenant's timed processes' timers (a save changed them)."""
        ...

    def armed(self, tenant_id: str) -> dict[str, str]:
        """Automation id → the spec its items' date timers were last armed for."""
        ...

    def set_armed(self, tenant_id: str, automation_id: str, spec: str | None) -> None: ...


class ItemPages(Protocol):
    """Deals and leads as the clock reads them: one by id, or a tenant's in pages (``DealStore``)."""

    def get(self, tenant_id: str, deal_id: str) -> Deal | None: ...

    def page(
        self,
        tenant_id: str,
        *,
        entity: str,
        equals: dict[str, str],
        limit: int,
        after: str | None = None,
        matches: Callable[[Deal], bool] | None = None,
    ) -> Any:
        """Items of ``entity`` in id order after ``after``: ``.items`` and ``.after`` (None: no more)."""
        ...


class TimerQueue(Protocol):
    def enqueue(self, job: TimerJob) -> None:
        """Have a worker go on with the job's next page, asynchronously."""
        ...
