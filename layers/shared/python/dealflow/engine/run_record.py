"""The run-log record of one run, rewritten by every step so the log shows the run as it goes,
including while it waits."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from dealflow import clock
from dealflow.engine.nodes import StepKind
from dealflow.engine.run_log_keeper import keep
from dealflow.model import RunError, RunRecord, RunRequest, RunStep
from dealflow.model.run import RunStatus
from dealflow.ports import RunDeadLetter, RunLog

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
    the same list without writing anything. A write never fails the step it is made in
    (``dealflow.engine.run_log_keeper``): the run's effects decide its fate, not its book-keeping."""

    def __init__(
        self,
        request: RunRequest,
        runs: RunLog,
        execution_id: str | None = None,
        dead_letter: RunDeadLetter | None = None,
    ) -> None:
        self.request = request
        self._runs = runs
        self._dead_letter = dead_letter
        self.steps: list[RunStep] = []
        self.errors: list[RunError] = []  # failed actions the run handled and went past
        self.started_at = ""
        self.wake_at: str | None = None
        self.waiting_for: str | None = None  # what a run at a wait_for node waits for
        self.execution_id = execution_id
        # The node the walk stands at (its place in the tree), set between steps: a failed or
        # waiting run's record keeps it, so a retry or an early resume knows where to start.
        self.position: str | None = None

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
        # Only a run that may be retried or resumed keeps where it stands (and, in the store, what
        # started it).
        resumable = status in ("failed", "waiting")
        keep(
            self._runs,
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
                waiting_for=self.waiting_for if status == "waiting" else None,
                finished_at=stamp() if finished else None,
                execution_id=self.execution_id,
                automation_version=automation.version,
                position=self.position if resumable else None,
                retry_of=request.retry_of,
                request=request,
                errors=[*self.errors, *([new_error] if new_error else [])],
            ),
            self._dead_letter,
        )

    def fail(
        self, name: str, kind: StepKind, error: str, *, outcome: str = "failed", detail: dict[str, Any] | None = None
    ) -> RunStep:
        """End the run ``failed`` at the step ``name``, saying why (``detail``: the tries it took;
        an effect held for a person: ``outcome`` "unconfirmed", with what the action reported)."""
        step = RunStep(name=name, kind=kind, outcome=outcome, at=stamp(), detail={**(detail or {}), "error": error})
        self.write("failed", reason=f"{name}: {error}", finished=True, new_step=step)
        return step

    def finish(self) -> None:
        self.write("completed", finished=True)
