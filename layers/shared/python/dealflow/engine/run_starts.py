"""How many runs are started at once: together when the starter can (the AWS adapter issues its
invokes concurrently, bounded), else one after another; either way one answer per run, so a start
that fails never keeps another from being made or reported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the dispatcher imports this module: no models at import (cold start)
    from dealflow.model import RunRequest
    from dealflow.ports import RunStarter

# Per run: True, it started; False, its name had run already; an error, this start failed.
Started = bool | Exception


def start_each(starter: RunStarter, runs: Sequence[RunRequest]) -> list[Started]:
    """Whether each run started, in the runs' order: through the starter's ``start_all`` where it
    has one (it answers the same way), else ``start`` after ``start``."""
    start_all = getattr(starter, "start_all", None)  # optional: in-process starters have none
    if start_all is not None:
        return list(start_all(runs))
    return [_start(starter, run) for run in runs]


def _start(starter: RunStarter, run: RunRequest) -> Started:
    try:
        return starter.start(run)
    except Exception as exc:  # reported with its run: the others are still started
        return exc
