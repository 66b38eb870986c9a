"""The run-log record of one run, rewritten by every step so the log shows the run as it goes,
including while it waits."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from dealflow import clock
from dealflow.engine.nodes import StepKind
from dealflow.model import RunError, RunRecord, RunRequest, RunStep
from dealflow.model.run import RunStatus
from dealflow.ports import RunLog

logger = Logger()

# A rendered text (e-mail body, notification, task description) longer than this is kept in the run
# log and in step results as an excerpt with its size and digest: five 90 kB e-mails must not pass
# DynamoDB's 400 KB item limit, nor a step result the durable engine's 256 KB checkpoint cap.
EXCERPT_CHARS = 300


def stamp(moment: datetime | None = None) -> str:
    return (moment or clock.now()).isoformat(timespec="milliseconds")


def excerpt(text: str) -> tuple[str, dict[str, Any] | None]:
    """A text as the run log keeps it: whole when short, else its start and what identifies the
    whole (characters, UTF-8 bytes, sha256), so a sent e-mail can still be matched to its entry."""
    if len(text) <= EXCERPT_CHARS:
        return text, None
    data = text.encode()
    whole = {"chars": len(text), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return text[:EXCERPT_CHARS] + "…", whole


def bounded(detail: dict[str, Any]) -> dict[str, Any]:
    """A step's detail with every long text cut to an excerpt (in nested conditions' traces too);
    ``<key>_full`` describes the whole text."""
    kept: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, str):
            kept[key], whole = excerpt(value)
            if whole is not None:
                kept[f"{key}_full"] = whole
        else:
            kept[key] = _bounded_value(value)
    return kept


def _bounded_value(value: Any) -> Any:
    if isinstance(value, dict):
        return bounded(value)
    if isinstance(value, list):
        return [_bounded_value(v) for v in value]
    if isinstance(value, str):
        return excerpt(value)[0]
    return value


class RunBook:
    """What the log knows of a run: the steps so far, when it started, when a wait ends.

    Only code running inside a durable step writes (``write``, ``fail``); the walker appends each
    step's outcome to ``steps`` from the step's (possibly replayed) result, so a replay rebuilds
    the same list without writing anything."""

    def __init__(self, request: RunRequest, runs: RunLog, execution_id: str | None = None) -> None:
        self.request = request
        self._runs = runs
        self.steps: list[RunStep] = []
        self.errors: list[RunError] = []  # failed actions the run handled and went past
        self.started_at = ""
        self.wake_at: str | None = None
        self.execution_id = execution_id

    @property
    def runs(self) -> RunLog:
        return self._runs

    def write(
        self,
        status: RunStatus,
        reason: str | None = None,
        finished: bool = False,
        new_step: RunStep | None = None,
        new_error: RunError | None = None,
    ) -> None:
        """Rewrite the run's record; a step function passes its own step as ``new_step`` (and the
        failure it handled as ``new_error``)."""
        automation, request = self.request.automation, self.request
        self._runs.write(
            RunRecord(
                tenant_id=request.tenant_id,
                run_id=request.run_id,
                automation_id=automation.id,
                automation_name=automation.name,
                automation_kind=automation.kind,
                deal_id=request.target_id or request.deal_id,
                event_id=request.event_id,
                started_by=request.started_by.model_dump(mode="json", exclude_none=True),
                status=status,
                reason=reason,
                steps=[*self.steps, *([new_step] if new_step else [])],
                started_at=self.started_at or stamp(),  # a start that failed never set it
                wake_at=self.wake_at,
                finished_at=stamp() if finished else None,
                execution_id=self.execution_id,
                errors=[*self.errors, *([new_error] if new_error else [])],
            )
        )

    def write_after_effect(
        self, status: RunStatus, finished: bool, new_step: RunStep, new_error: RunError | None = None
    ) -> None:
        """Rewrite the record once an action's effect happened: a run-log write that fails now
        must not fail (and so invite a retry of) a run whose e-mail went out or whose deal was
        written. The next step's write, or the finish, rewrites the whole record again."""
        try:
            self.write(status, finished=finished, new_step=new_step, new_error=new_error)
        except Exception:  # logged, never raised: see above
            logger.exception("run log not written after an effect", extra={"run_id": self.request.run_id})

    def fail(self, name: str, kind: StepKind, error: str, **detail: Any) -> RunStep:
        """End the run ``failed`` at the step ``name``, saying why (``detail``: the tries it took)."""
        step = RunStep(name=name, kind=kind, outcome="failed", at=stamp(), detail={"error": error, **detail})
        self.write("failed", reason=f"{name}: {error}", finished=True, new_step=step)
        return step

    def finish(self) -> None:
        self.write("completed", finished=True)
