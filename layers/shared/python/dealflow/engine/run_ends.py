"""How a run's walk ends before its last node (``dealflow.engine.interpreter`` raises them; the
runner and test mode tell a failed run from one stopped on purpose by them)."""

from __future__ import annotations


class RunEnded(Exception):
    """The walk ends before its last node; the run's record already says why."""


class RunFailed(RunEnded):
    """A run ended in failure; its run-log record says why."""


class RunStopped(RunEnded):
    """A check stopped the run on purpose (``skipped`` before anything ran, else ``stopped``), or
    a step found its goal met or an exit taken (``goal_met``, ``exited``)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status
