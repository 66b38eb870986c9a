"""What the dispatcher writes to the run log besides the runs it starts, so "why didn't this
e-mail go out?" has an answer: loops it stopped, automation whose condition kept it from starting
(sampled). The waiting runs of a deleted deal are cancelled by a job (``engine.cancellation``).

Entries are kept until the Lambda batch ends and then written together (``flush``: BatchWriteItem,
25 a call), not one PutItem each: a PutItem costs the dispatcher more CPU in the SDK than the rest
of a record's work (bench/README.md, ``handler.py``). Structured log lines would be cheaper still,
but the run-log API reads DynamoDB, and "why didn't it run?" must be answered there."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from dealflow.clock import now_iso
from dealflow.engine.changes import DealChange
from dealflow.engine.compiled import CompiledAutomation
from dealflow.engine.dispatch import NotStarted
from dealflow.engine.enrollment import not_enrolled_step
from dealflow.engine.run_requests import run_id_for
from dealflow.model import Causation, RunRecord, RunStep
from dealflow.ports import RunLogBatches

_sha256 = hashlib.sha256


def _sample_point(record: bytes, automation_id: str) -> int:
    """Where (record, automation) falls in 0..2**32-1, the first 4 bytes of their sha256 (``record``:
    the event id and ':', encoded once per record). Deterministic: a redelivered record makes the
    same choice."""
    return int.from_bytes(_sha256(record + automation_id.encode()).digest()[:4], "big")


def _started_by(change: DealChange) -> dict[str, Any]:
    cause = change.cause
    # The stage entry as plain data, exactly as its model would dump it (text values, none empty):
    # building the model to dump it again cost a third of an entry.
    entry = change.started_by
    return {
        "stage_entry": dict(entry) if entry else None,
        "changed_fields": sorted(change.changed_fields),
        "caused_by": Causation.model_validate(cause).model_dump(mode="json") if cause else None,
    }


class DispatchLog:
    def __init__(self, runs: RunLogBatches, not_started_sample: float = 1.0) -> None:
        self._runs = runs
        self._sample = not_started_sample
        self._pending: list[RunRecord] = []  # written by ``flush``, at the end of the batch

    def flush(self) -> set[str]:
        """Write the entries kept since the last flush; returns the stream event ids whose entries
        could not all be written (their records fail and are delivered again: the entries are
        keyed by run id, so writing them twice writes them once)."""
        pending, self._pending = self._pending, []
        if not pending:
            return set()
        return {record.event_id for record in self._runs.write_all(pending)}

    def _write(
        self,
        change: DealChange,
        event_id: str,
        automation: Any,
        status: str,
        reason: str,
        steps: list[RunStep] | None = None,
    ) -> None:
        stamp = now_iso()
        self._pending.append(
            RunRecord(
                tenant_id=change.tenant_id,
                run_id=run_id_for(event_id, automation.id),
                automation_id=automation.id,
                automation_name=automation.name,
                automation_kind=automation.kind,
                deal_id=change.deal_id,
                event_id=event_id,
                started_by=_started_by(change),
                status=status,
                reason=reason,
                steps=steps or [],
                started_at=stamp,
                finished_at=stamp,
            )
        )

    def loop_stopped(self, change: DealChange, event_id: str, stopped: Sequence[CompiledAutomation]) -> None:
        cause = change.cause
        chain = list(cause.get("chain", ())) if cause else []
        for compiled in stopped:
            self._write(
                change,
                event_id,
                compiled.automation,
                "skipped",
                f"automation loop stopped: {len(chain)} automation writes in a row "
                f"({' → '.join([*chain, compiled.automation.id])})",
            )

    def not_started(self, change: DealChange, event_id: str, entries: Sequence[NotStarted]) -> None:
        """Sampled first: the trace of what each clause saw is worked out only for what is kept."""
        if self._sample <= 0:
            return
        record, bound = f"{event_id}:".encode(), self._sample * 0xFFFFFFFF
        for entry in entries:
            automation = entry.automation
            if _sample_point(record, automation.id) < bound:
                step = RunStep(
                    name="condition",
                    kind="condition",
                    outcome="not met",
                    at=now_iso(),
                    detail={"conditions": entry.trace()},
                )
                self._write(change, event_id, automation, "not_started", entry.reason, [step])

    def refused(self, change: DealChange, event_id: str, entries: Sequence[tuple[Any, str]]) -> None:
        """Automation an enrollment rule kept from starting: logged every time (not sampled), its
        entry naming the rule ("re-enrollment off: already ran on 2026-03-02")."""
        for automation, reason in entries:
            self._write(change, event_id, automation, "not_started", reason, [not_enrolled_step(reason)])

    def skipped(self, change: DealChange, event_id: str, entries: Sequence[dict[str, Any]]) -> None:
        """Flagged automation the change would have started: logged every time (not sampled), so
        "why didn't it run?" names what is missing."""
        for entry in entries:
            self._write(change, event_id, entry["automation"], "skipped", entry["reason"])
