"""What-if: replay an automation — a stored version, a draft, any candidate — over a tenant's recent
real deal changes, with the real dispatcher deciding whether a run would start and the real
interpreter in test mode running it; beside each change, what the published version did (from the
run log). Nothing is sent or written.

``what_if`` is the one entry: the API calls it for a stored version or a candidate in the request;
drafts (versions) call it with the draft as ``candidate``. The changes come from the dispatcher's
bounded history (``dealflow.ports.ChangeHistory``), never from scanning the deals table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from dealflow.engine.actions import Services
from dealflow.engine.changes import DealChange
from dealflow.engine.compiled import AutomationIndex, TenantAutomation
from dealflow.engine.dispatch import RunPlan, plan_record
from dealflow.engine.references import report
from dealflow.engine.testmode import dry_run
from dealflow.language.conditions import explain
from dealflow.model import RunRecord, RunStep
from dealflow.model.catalog import Automation
from dealflow.model.what_if import PublishedRun, WhatIfChange, WhatIfReport
from dealflow.ports import RecordedChange

_ENDED_UNSTARTED = frozenset({"not_started", "skipped"})


def _sandbox(candidate: Automation, known: TenantAutomation) -> TenantAutomation:
    """The tenant as the dispatcher would see it with ``candidate`` its only automation, switched on."""
    enabled = candidate.model_copy(update={"enabled": True})
    references = report([enabled], known.pipelines, known.fields)
    return replace(
        known,
        index=AutomationIndex([enabled]),
        by_id={**known.by_id, enabled.id: enabled},
        warnings=references.warnings(known.tenant),
        references=references,
    )


def _summary(change: DealChange) -> dict[str, Any]:
    return {
        "kind": change.kind.value,
        "entered": list(change.entered) if change.entered else None,
        "changed_fields": sorted(change.changed_fields),
    }


def _published(runs: Sequence[RunRecord]) -> list[PublishedRun]:
    return [
        PublishedRun(
            run_id=r.run_id, status=r.status, reason=r.reason, steps=[f"{s.name}: {s.outcome}" for s in r.steps]
        )
        for r in runs
    ]


def _entry(candidate: Automation, change: DealChange, sandbox: TenantAutomation) -> RunStep:
    """The condition the dispatcher checked, with what each clause saw."""
    values = sandbox.condition_values
    trace: list[dict[str, Any]] = []
    before = None if change.before is None else {**change.before, **values}
    explain(candidate.condition, {**(change.after or {}), **values}, before, trace)
    return RunStep(name="condition", kind="condition", outcome="passed", detail={"conditions": trace})


def _judged(
    candidate: Automation, change: DealChange, plan: RunPlan, sandbox: TenantAutomation, services: Services
) -> dict[str, Any]:
    if plan.planned:
        request = plan.runs[0]
        if request.target_id is not None or change.new is None:  # about a linked lead: its run reads the lead now
            return {"verdict": "would_start", "reason": f"the run is about lead '{request.target_id}'"}
        entry = _entry(candidate, change, sandbox)
        run = dry_run(candidate, change.new, services, request=request, entry=entry).record
        return {"verdict": "would_start", "run": run, "conditions": entry.detail["conditions"]}
    if plan.not_started:
        [stopped] = plan.not_started
        return {"verdict": "would_not_start", "reason": stopped.reason, "conditions": stopped.trace()}
    if plan.skipped:
        return {"verdict": "would_not_start", "reason": plan.skipped[0]["reason"]}
    if plan.loop_stopped:
        return {"verdict": "would_not_start", "reason": "automation loop stopped (the chain of writes is too deep)"}
    return {"verdict": "not_concerned"}


def what_if(
    candidate: Automation,
    changes: Sequence[RecordedChange],
    known: TenantAutomation,
    services: Services,
    published: Sequence[RunRecord] = (),
    *,
    given: bool = False,
) -> WhatIfReport:
    """Replay ``candidate`` over ``changes`` (newest first, as the history reads them) of the
    tenant ``known`` describes: for each, whether a run would start (the dispatcher's own
    planning, with the condition values it saw), and if so the run in test mode (steps, rendered
    texts, delays it would wait); beside it the runs of ``published`` (the run log of the stored
    automation with the same id) that the same change made. ``given``: the candidate came from the
    caller rather than the store (a draft, an edit not yet saved). ``services`` are the runner's;
    test mode swaps every port that acts for one that records."""
    sandbox = _sandbox(candidate, known)
    by_event: dict[str, list[RunRecord]] = {}
    for run in published:
        by_event.setdefault(run.event_id, []).append(run)
    items: list[WhatIfChange] = []
    for recorded in changes:
        found = plan_record(recorded.old_image, recorded.new_image, recorded.event_id, lambda _: sandbox)
        judged = _judged(candidate, found.change, found.plan, sandbox, services)
        items.append(
            WhatIfChange(
                event_id=recorded.event_id,
                deal_id=recorded.deal_id,
                at=recorded.at,
                change=_summary(found.change),
                published=_published(by_event.get(recorded.event_id, [])),
                **judged,
            )
        )
    return WhatIfReport(
        automation_id=candidate.id,
        version=candidate.version,
        candidate=given,
        changes=len(items),
        would_start=sum(item.verdict == "would_start" for item in items),
        published_started=sum(any(p.status not in _ENDED_UNSTARTED for p in item.published) for item in items),
        items=items,
    )
