"""The engine's one source of "now". On AWS it is the system clock; the local harness points it at
its hand-driven clock so timestamps, due dates and delays agree with the time a test has advanced to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from time import sleep as _system_sleep


def _system() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system
_pause: Callable[[float], None] = _system_sleep


def now() -> datetime:
    return _source()


def now_iso() -> str:
    return now().isoformat(timespec="milliseconds")


def sleep(seconds: float) -> None:
    """Wait inside a step (a back-off between tries); the local harness moves its clock instead."""
    _pause(seconds)


def use(source: Callable[[], datetime] | None, pause: Callable[[float], None] | None = None) -> None:
    """Take time from ``source`` and wait with ``pause`` (None: back to the system's)."""
    global _source, _pause
    _source = source or _system
    _pause = pause or _system_sleep
