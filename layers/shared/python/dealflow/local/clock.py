"""A clock for local runs that moves only when told to (plus short hops for retry back-offs).

The durable testing SDK either waits in real time or skips every wait at once. Neither lets a test
say "the deal left the stage during the two-day delay": for that, time must stand still until the
test advances it. Gaps under ``AUTO_SKIP`` (step-retry back-offs) are skipped at once; automation
delays are at least a minute long, so they always wait for ``advance``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

AUTO_SKIP = timedelta(seconds=45)
# How often a parked timer looks at the clock again (real seconds). Short, so an advance is seen
# promptly; parked timers cost a dictionary lookup each.
POLL_SECONDS = 0.02


class ManualClock:
    """Implements the testing SDK's Clock protocol (``now`` and ``arm``). Without ``start`` it
    follows the real clock plus whatever was advanced; with ``start`` it stands at that instant
    and moves only by ``advance`` and the short hops, so a run prints the same times every time
    (the demo does)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def _now(self) -> datetime:
        return (self._start or datetime.now(UTC)) + self._offset

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += delta

    def arm(self, wake: datetime) -> float:
        with self._lock:
            gap = wake - self._now()
            if gap <= timedelta(0):
                return 0.0
            if gap <= AUTO_SKIP:
                self._offset += gap
                return 0.0
        return POLL_SECONDS
