"""Enrollment rules: whether an item may start an automation again — re-enrollment ``off`` (once
per item, ever), ``after`` a cool-down since its last run, ``always`` (as before) — and a per-item
frequency cap.

The dispatcher (and the webhook receiver, for triggers) asks here before it starts a run of
automation that has a rule; automation without one costs nothing more (``AutomationIndex.enrolling``
is empty, nothing is read). Each (automation, item) has one record of its starts, written
conditionally on its version (``ports.EnrollmentBook``): two stream records of one deal — in one
batch, or in two concurrent invocations — cannot both pass a rule only one may pass. A start is
recorded under its run's name, so a redelivered record finds its run already enrolled and starts it
(the run name makes the start itself happen once). Starts count from when a rule is set: runs
before it left no record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dealflow import clock

if TYPE_CHECKING:  # the dispatcher imports this module: models load with its first automation
    from dealflow.model import RunRecord, RunRequest, RunStep
    from dealflow.model.catalog import Automation
    from dealflow.model.enrollment import Enrollment
    from dealflow.ports import EnrollmentBook

# Conflicting writes to one record before the record fails (and its batch retries it).
_ATTEMPTS = 5


class EnrollmentContended(RuntimeError):
    """Other starts kept changing the record: the stream record fails and is delivered again."""


def _day(moment: str) -> str:
    return moment[:10]


def refusal(policy: Enrollment, starts: Mapping[str, Any] | None, now: datetime) -> str | None:
    """Why ``policy`` keeps an item whose earlier starts are ``starts`` from starting again at
    ``now`` (None: it may). Said as the not-started entry says it."""
    if not starts or not starts.get("recent"):
        return None
    first, last = starts["first"], starts["recent"][-1]
    if policy.reenroll == "off":
        return f"re-enrollment off: already ran on {_day(first['at'])}"
    if policy.reenroll == "after" and policy.cooldown is not None:
        again = datetime.fromisoformat(last["at"]) + policy.cooldown.length
        if now < again:
            return (
                f"re-enrollment after {policy.cooldown.describe()}: last ran on {_day(last['at'])}, "
                f"may run again from {again.isoformat(timespec='minutes')}"
            )
    cap = policy.frequency_cap
    if cap is not None:
        since = now - cap.per.length
        if sum(1 for s in starts["recent"] if datetime.fromisoformat(s["at"]) > since) >= cap.runs:
            return f"frequency cap {cap.runs} per {cap.per.describe()} reached"
    return None


def _enrolled(starts: Mapping[str, Any] | None, run_id: str) -> bool:
    if not starts:
        return False
    return starts["first"]["run"] == run_id or any(s["run"] == run_id for s in starts["recent"])


def _with_start(policy: Enrollment, starts: Mapping[str, Any] | None, run_id: str, now: datetime) -> dict[str, Any]:
    """The record after one more start: the first start kept for ever, recent ones while they
    still count (and the last one always: the cool-down runs from it)."""
    start = {"run": run_id, "at": now.isoformat(timespec="seconds")}
    remembered = policy.remembered
    recent = list(starts["recent"]) if starts else []
    if remembered is not None:
        since = now - remembered
        recent = [s for s in recent if datetime.fromisoformat(s["at"]) > since]
    cap = policy.frequency_cap
    recent = [*recent, start][-(max(cap.runs if cap else 1, 1) + 1) :]
    return {"first": starts["first"] if starts else start, "recent": recent}


def enroll(
    book: EnrollmentBook, tenant_id: str, automation_id: str, item_id: str, run_id: str, policy: Enrollment
) -> str | None:
    """Record the run ``run_id`` as a start of the automation on the item, unless ``policy`` keeps
    it from starting: then why (nothing recorded). A run recorded before (a redelivered record)
    may start again: its name makes it one run."""
    now = clock.now()
    for _ in range(_ATTEMPTS):
        starts = book.starts(tenant_id, automation_id, item_id)
        if _enrolled(starts, run_id):
            return None
        reason = refusal(policy, starts, now)
        if reason is not None:
            return reason
        version = int(starts["version"]) if starts else 0
        after = _with_start(policy, starts, run_id, now) | {"version": version + 1}
        remembered = policy.remembered
        keep_until = None if remembered is None else now + remembered
        if book.record(tenant_id, automation_id, item_id, after, version, keep_until):
            return None
    raise EnrollmentContended(f"enrollment of '{item_id}' in '{automation_id}' kept changing; try again")


def admitted(
    book: EnrollmentBook | None,
    runs: Sequence[RunRequest],
    enrolling: Mapping[str, Enrollment],
) -> tuple[list[RunRequest], list[tuple[RunRequest, str]]]:
    """Of ``runs``, those their automation's enrollment rule lets start (all of them when none has
    one: nothing is read), and those it keeps out with why."""
    if not enrolling or book is None:
        return list(runs), []
    kept: list[RunRequest] = []
    refused: list[tuple[RunRequest, str]] = []
    for run in runs:
        policy = enrolling.get(run.automation.id)
        reason = None
        if policy is not None:
            item = run.target_id or run.deal_id
            reason = enroll(book, run.tenant_id, run.automation.id, item, run.run_id, policy)
        if reason is None:
            kept.append(run)
        else:
            refused.append((run, reason))
    return kept, refused


def would_refuse(book: EnrollmentBook | None, tenant_id: str, automation: Automation, item_id: str) -> str | None:
    """Test mode's question, answered without recording anything: would a start now be kept out?"""
    policy = automation.enrollment
    if book is None or policy is None or not policy.limits:
        return None
    return refusal(policy, book.starts(tenant_id, automation.id, item_id), clock.now())


def not_enrolled_step(reason: str) -> RunStep:
    """The one step of a not-started entry an enrollment rule explains."""
    from dealflow.model import RunStep

    return RunStep(
        name="enrollment", kind="check", outcome="not enrolled", at=clock.now_iso(), detail={"reason": reason}
    )


def not_enrolled_entry(run: RunRequest, reason: str) -> RunRecord:
    """The run-log entry of a run an enrollment rule kept from starting, under the run's own name
    (a tick or a page done again rewrites the same entry)."""
    from dealflow.model import RunRecord

    stamp = clock.now_iso()
    return RunRecord(
        tenant_id=run.tenant_id,
        run_id=run.run_id,
        automation_id=run.automation.id,
        automation_name=run.automation.name,
        automation_kind=run.automation.kind,
        deal_id=run.target_id or run.deal_id,
        event_id=run.event_id,
        started_by=run.started_by.model_dump(mode="json", exclude_none=True),
        status="not_started",
        reason=reason,
        steps=[not_enrolled_step(reason)],
        started_at=stamp,
        finished_at=stamp,
    )
