"""Runs that cannot say themselves why they stopped, still say it in the run log.

The walker records every failure it sees (``dealflow.engine.interpreter``). Two kinds it never
sees: a request the runner cannot read (no walker starts), and an execution the durable engine
ends by itself — timed out, stopped from outside, crashed before it could write — where the runner
never gets control again. For both, this module writes a ``failed`` record with a failed step and
a reason an administrator can read, filed under the tenant, deal and automation recovered from
whatever the request still shows, so it is listed with the deal's and the automation's runs.

A record that already ended (completed, cancelled, failed with its own reason) is never
overwritten: the run log keeps how the run really ended.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from dealflow import clock
from dealflow.model import RunRecord, RunStep
from dealflow.model.base import ID_PATTERN
from dealflow.model.run import ExecutionStatusChange
from dealflow.ports import Durable, ExecutionFacts, Executions, RunLog

# Only when not even the tenant is known does a failure go to the log instead of the run log.
logger = Logger()

OPEN = frozenset({"running", "waiting"})
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_REASON = 300
_UNKNOWN = "unknown"


class UnreadableRequest(ValueError):
    """A run request so broken that not even its tenant is known: nowhere to file it."""


def readable(error: BaseException) -> str:
    """What went wrong, in a line an administrator can read: never a traceback."""
    if isinstance(error, ValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'the request'}: {e['msg']}" for e in error.errors()]
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        return _short(shown)
    lines = str(error).strip().splitlines()
    return _short(lines[0] if lines else f"unexpected {type(error).__name__} in the engine")


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 64 and ID_PATTERN.match(value) else None


def _part(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value.strip() else default


@dataclass(frozen=True)
class Recovered:
    """What a raw run request still shows of its run, each part checked on its own."""

    tenant_id: str | None
    run_id: str
    automation_id: str
    automation_name: str
    automation_kind: str
    deal_id: str
    event_id: str
    started_by: dict[str, Any]

    @classmethod
    def of(cls, raw: Any, execution_id: str | None = None, execution_name: str | None = None) -> Recovered:
        data, automation, item = _part(raw), _part(_part(raw).get("automation")), _part(_part(raw).get("deal"))
        run_id = next(
            (r for r in (data.get("run_id"), execution_name) if isinstance(r, str) and _RUN_ID.match(r)), None
        )
        if run_id is None:  # named after what started it, so a retry files it under the same run
            seed = execution_id or json.dumps(raw, sort_keys=True, default=str)
            run_id = f"run-{hashlib.sha256(seed.encode()).hexdigest()[:48]}"
        started_by = data.get("started_by")
        return cls(
            tenant_id=_id(data.get("tenant_id")) or _id(item.get("tenant_id")),
            run_id=run_id,
            automation_id=_id(automation.get("id")) or _UNKNOWN,
            automation_name=_text(automation.get("name"), "unknown automation"),
            automation_kind=_text(automation.get("kind"), _UNKNOWN),
            deal_id=_id(data.get("target_id")) or _id(data.get("deal_id")) or _id(item.get("id")) or _UNKNOWN,
            event_id=_text(data.get("event_id"), _UNKNOWN)[:200],
            started_by=started_by if isinstance(started_by, dict) else {},
        )

    def failed(self, step: RunStep, reason: str, execution_id: str | None) -> RunRecord:
        assert self.tenant_id is not None
        now = clock.now_iso()
        return RunRecord(
            tenant_id=self.tenant_id,
            run_id=self.run_id,
            automation_id=self.automation_id,
            automation_name=self.automation_name,
            automation_kind=self.automation_kind,
            deal_id=self.deal_id,
            event_id=self.event_id,
            started_by=self.started_by,
            status="failed",
            reason=reason,
            steps=[step],
            started_at=now,
            finished_at=now,
            execution_id=execution_id,
        )


def _failed_step(name: str, error: str, **detail: Any) -> RunStep:
    return RunStep(name=name, kind="check", outcome="failed", at=clock.now_iso(), detail={"error": error, **detail})


def record_unreadable(raw: Any, error: Exception, runs: RunLog, durable: Durable) -> str:
    """File a run whose request the runner cannot read as ``failed`` at its start, under what the
    request still shows (tenant, run, automation, deal); returns the reason. Without a tenant there
    is no run log to file it in: it is logged and ``UnreadableRequest`` raised."""
    found = Recovered.of(raw, durable.execution_id)
    error_text = f"the run's request could not be read: {readable(error)}"
    if found.tenant_id is None:
        logger.error(
            "run request unreadable and its tenant unknown: not in any run log",
            extra={"run_id": found.run_id, "execution_id": durable.execution_id, "error": error_text},
        )
        raise UnreadableRequest(error_text) from error

    def write() -> bool:
        record = found.failed(_failed_step("start", error_text), f"start: {error_text}", durable.execution_id)
        return runs.end(record)

    durable.step("failed", write)
    return f"start: {error_text}"


# How each way an execution can end without the runner saying so reads in the run log: the failed
# step's name and what happened. A run that completed or failed on its own has a record that ended.
def _timed_out(current: RunRecord | None, facts: ExecutionFacts | None) -> tuple[str, str]:
    waiting = f" while it waited until {current.wake_at}" if current and current.status == "waiting" else ""
    return "time limit", f"the run reached the runner's time limit{waiting} and AWS ended it"


def _stopped(current: RunRecord | None, facts: ExecutionFacts | None) -> tuple[str, str]:
    return "stopped", "the run was stopped from outside Dealflow before it finished"


def _crashed(current: RunRecord | None, facts: ExecutionFacts | None) -> tuple[str, str]:
    error = readable(RuntimeError(facts.error)) if facts and facts.error else "no error was reported"
    return "runner", f"the runner stopped before it could record why: {error}"


_ENDINGS: dict[str, Callable[[RunRecord | None, ExecutionFacts | None], tuple[str, str]]] = {
    "TIMED_OUT": _timed_out,
    "STOPPED": _stopped,
    "FAILED": _crashed,
}


def reconcile(change: ExecutionStatusChange, executions: Executions, runs: RunLog) -> RunRecord | None:
    """Mark the run of an execution that ended (timed out, stopped, failed) ``failed`` unless its
    record already ended; returns the record written, or None when there was nothing to do."""
    ending = _ENDINGS.get(change.status)
    if ending is None:  # running or succeeded: the runner wrote how it went
        return None
    facts = executions.describe(change.execution_id)
    found = Recovered.of(facts.request if facts else None, change.execution_id, change.name)
    if found.tenant_id is None:
        logger.warning(
            "runner execution ended but its run is unknown",
            extra={"execution_id": change.execution_id, "status": change.status, "run_id": found.run_id},
        )
        return None
    current = runs.get(found.tenant_id, found.run_id)
    if current is not None and current.status not in OPEN:
        return None
    name, error = ending(current, facts)
    step = _failed_step(name, error, execution_status=change.status)
    if current is None:
        record = found.failed(step, f"{name}: {error}", change.execution_id)
    else:
        record = current.model_copy(
            update={
                "status": "failed",
                "reason": f"{name}: {error}",
                "steps": [*current.steps, step],
                "finished_at": clock.now_iso(),
            }
        )
    return record if runs.end(record) else None
