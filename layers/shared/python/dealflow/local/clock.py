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
        """Move time forward. Timers armed before stay parked until someone re-arms them: the
        local run starter does, for every run, when it next settles."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += delta

    def sleep(self, seconds: float) -> None:
        """A back-off inside a step: time moves on, nobody waits."""
        self.advance(timedelta(seconds=seconds))

    def arm(self, wake: datetime) -> float:
        """Real seconds until ``wake``: none when it is due or a short hop away (the hop is taken
        at once), else the real time left, so a parked timer costs nothing until then."""
        with self._lock:
            gap = wake - self._now()
            if gap <= timedelta(0):
                return 0.0
            if gap <= AUTO_SKIP:
                self._offset += gap
                return 0.0
            return gap.total_seconds()

    @staticmethod
    def is_parked(delay: float) -> bool:
        """Whether a timer armed for ``delay`` real seconds waits for time to be advanced (or to
        pass for real), rather than being work that happens now."""
        return delay > AUTO_SKIP.total_seconds()
