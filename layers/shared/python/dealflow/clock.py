"""The engine's one source of "now". On AWS it is the system clock; the local harness points it at
its hand-driven clock so timestamps, due dates and delays agree with the time a test has advanced to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def _system() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system


def now() -> datetime:
    return _source()


def now_iso() -> str:
    return now().isoformat(timespec="milliseconds")


def use(source: Callable[[], datetime] | None) -> None:
    """Take time from ``source`` (None: back to the system clock)."""
    global _source
    _source = source or _system
