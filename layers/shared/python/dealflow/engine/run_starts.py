"""How the runs one change calls for are started: together when the starter can (the AWS adapter
issues its invokes concurrently, bounded), else one after another."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the dispatcher imports this module: no models at import (cold start)
    from dealflow.model import RunRequest
    from dealflow.ports import RunStarter


def start_runs(starter: RunStarter, runs: Sequence[RunRequest]) -> list[str]:
    """The ids of the runs that started (not those whose name had already run). A start that fails
    raises after the others were tried: the stream record fails and is retried whole, and the runs
    that did start are not started twice (each is named after the record and the automation)."""
    started = start_each(starter, runs)
    return [run.run_id for run, ok in zip(runs, started, strict=True) if ok]


def start_each(starter: RunStarter, runs: Sequence[RunRequest]) -> list[bool]:
    """Whether each run started: through the starter's ``start_all`` where it has one."""
    start_all = getattr(starter, "start_all", None)  # optional: in-process starters have none
    return list(start_all(runs)) if start_all is not None else [starter.start(run) for run in runs]
