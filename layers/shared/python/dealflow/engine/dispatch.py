"""From one deal change to the runs it starts.

Automation is indexed when a tenant's definitions are compiled: rules and tunnels by the
(pipeline, stage) whose entry starts them, triggers by the event they wait for. A change costs a
dictionary lookup plus the conditions of the automation found, however much the tenant has. Each
run gets a name derived from the stream record and the automation: starting it twice (a
redelivered record) is a no-op on AWS and in the local invoke port alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from dealflow.engine import records
from dealflow.engine.changes import ChangeKind, DealChange, diff, item_change, touched
from dealflow.engine.compiled import MAX_DEPTH, CompiledAutomation, TenantAutomation
from dealflow.engine.run_requests import RequestMaker
from dealflow.language.conditions import Facts, Trace, explain

if TYPE_CHECKING:  # the dispatcher imports this module: models load with the first automation (cold start)
    from dealflow.model import Deal, RunRequest


@dataclass(slots=True)  # not frozen: one is made per condition that fails, and frozen costs more to make
class NotStarted:
    """Automation a change concerned whose condition kept it from starting."""

    compiled: CompiledAutomation
    new: Facts
    old: Facts | None
    reason: str = "condition not met"

    @property
    def automation(self) -> Any:
        return self.compiled.automation

    def trace(self) -> Trace:
        """What each clause saw: worked out again, only for the entries the run log keeps."""
        seen: Trace = []
        explain(self.compiled.automation.condition, self.new, self.old, seen)
        return seen


@dataclass(slots=True)
class RunPlan:
    """The runs one change (or one outside event) starts, and why the others do not.

    ``planned`` holds each run request as plain data; ``runs`` is the same requests as the runner
    reads them, validated when first asked for (that is, when runs are started)."""

    planned: list[dict[str, Any]] = field(default_factory=list)
    not_started: list[NotStarted] = field(default_factory=list)
    loop_stopped: list[CompiledAutomation] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # flagged automation: broken references
    _runs: list[RunRequest] | None = field(default=None, repr=False, compare=False)

    @property
    def runs(self) -> list[RunRequest]:
        if self._runs is None or len(self._runs) != len(self.planned):
            from dealflow.model import RunRequest

            self._runs = [RunRequest.model_validate(planned) for planned in self.planned]
        return self._runs


def plan_candidates(
    change: DealChange,
    candidates: Sequence[CompiledAutomation],
    event_id: str,
    started_by: Mapping[str, Any] | None = None,
    target_id: str | None = None,
    flagged: Mapping[str, list[str]] | None = None,
    *,
    tenant_values: Mapping[str, Any] | None = None,
    reads: Iterable[str] | None = None,
    into: RunPlan | None = None,
) -> RunPlan:
    """Of the automation a change concerns, start what its condition lets through (loop guard
    first). With a ``target_id`` the condition is about another item and is checked by the run.
    ``flagged`` automation (broken references) is skipped before its condition, which may itself
    read what is gone. ``tenant_values`` are normalised (``TenantAutomation.condition_values``);
    ``reads`` names the fields the conditions read (all of them when not given). Adds to ``into``
    when given (one plan for all a change starts), else to a new plan."""
    plan = RunPlan() if into is None else into
    started_by = started_by or change.started_by
    if not candidates or started_by is None or change.kind is ChangeKind.DELETED:
        return plan
    if change.depth >= MAX_DEPTH:
        plan.loop_stopped.extend(candidates)
        return plan
    if flagged:  # broken references: skipped before their condition is read
        kept = []
        for compiled in candidates:
            missing = flagged.get(compiled.automation.id)
            if missing:
                plan.skipped.append(
                    {"automation": compiled.automation, "reason": "broken references: " + "; ".join(missing)}
                )
            else:
                kept.append(compiled)
        candidates = kept
    new: Facts | None = None
    old: Facts | None = None
    request: RequestMaker | None = None
    planned, not_started = plan.planned, plan.not_started
    checked = target_id is None  # else the run checks the condition, on the other item
    updated = change.kind is ChangeKind.UPDATED
    for compiled in candidates:
        test = compiled.test
        if test is not None and checked:
            if new is None:  # the values conditions read, once per change and candidates
                new = change.facts(reads) or {}
                if tenant_values:  # constants and variables, as they are now
                    new = {**new, **tenant_values}
            if old is None and updated and compiled.reads_before:
                # The deal as it was: decoded only for a condition that compares with it.
                old = change.facts(reads, before=True)
                if old is not None and tenant_values:
                    old = {**old, **tenant_values}
            if not test(new, old):
                not_started.append(NotStarted(compiled, new, old))
                continue
        if request is None:
            request = RequestMaker(change, event_id, started_by, target_id)
        planned.append(request(compiled))
    return plan


def _merge(into: RunPlan, other: RunPlan) -> RunPlan:
    into.planned += other.planned
    into.not_started += other.not_started
    into.loop_stopped += other.loop_stopped
    into.skipped += other.skipped
    return into


def _event_entry(change: DealChange, event: str) -> dict[str, Any]:
    return {"pipeline_id": change.value("pipeline_id"), "stage_id": change.value("stage_id"), "event": event}


def plan_runs(change: DealChange, automation: TenantAutomation, event_id: str) -> RunPlan:
    """Everything a change starts: the rules and tunnels of the stage it entered, triggers on the
    fields it changed, business processes started on add or change, and a linked lead's triggers
    when a deal is won or lost. Each part is looked up first and built only when something waits."""
    plan = RunPlan()
    entered = change.entered
    if change.kind is ChangeKind.DELETED:
        return plan
    index, flagged = automation.index, automation.warnings
    if entered is not None:
        on_stage = index.on_stage(*entered)
        if on_stage:
            values = automation.condition_values
            plan_candidates(
                change,
                on_stage,
                event_id,
                flagged=flagged,
                tenant_values=values,
                reads=automation.condition_fields,
                into=plan,
            )
    field_triggers = index.on_event("field_changed")
    if field_triggers and change.kind is ChangeKind.UPDATED and change.changed_fields:
        watching = [
            c
            for c in field_triggers
            if c.automation.kind == "trigger"
            and c.automation.pipeline_id == change.value("pipeline_id")
            and c.automation.field in change.changed_fields
        ]
        if watching:
            _merge(
                plan,
                plan_candidates(
                    change,
                    watching,
                    event_id,
                    _event_entry(change, "field_changed"),
                    flagged=flagged,
                    tenant_values=automation.condition_values,
                    reads=automation.condition_fields,
                ),
            )
    start = "add" if change.kind is ChangeKind.CREATED else "change"
    entity = change.entity
    candidates = index.processes(entity, start)
    if candidates and (change.kind is ChangeKind.CREATED or change.changed_fields):
        writer = change.cause["automation_id"] if change.cause else None
        # A process does not restart itself from its own writes.
        processes = [
            c
            for c in candidates
            if c.automation.pipeline_id in (None, change.value("pipeline_id")) and c.automation.id != writer
        ]
        if processes:
            started = _event_entry(change, "added" if start == "add" else "changed")
            process_plan = plan_candidates(
                change, processes, event_id, started, flagged=flagged, reads=automation.condition_fields
            )
            _merge(plan, process_plan)
    lead_id = change.value("lead_id") if entered is not None and index.waits_for_leads and entity == "deal" else None
    if entered is not None and lead_id:
        from dealflow.model.pipeline import StageSemantic

        pipeline = automation.pipelines.get(entered[0])
        stage = pipeline.stage(entered[1]) if pipeline else None
        if stage is not None and stage.semantic is not StageSemantic.IN_PROGRESS:
            event = "linked_deal_won" if stage.semantic is StageSemantic.WON else "linked_deal_lost"
            waiting = index.on_event(event)
            if waiting:
                _merge(
                    plan,
                    plan_candidates(
                        change,
                        waiting,
                        event_id,
                        {**(change.started_by or {}), "event": event},
                        target_id=lead_id,
                        flagged=flagged,
                        tenant_values=automation.condition_values,
                    ),
                )
    return plan


class RecordPlan(NamedTuple):
    """What one stream record calls for: the change it shows, the automation of its tenant when
    the change can start anything (None otherwise: deletions, bookkeeping-only writes), the runs."""

    change: DealChange
    automation: TenantAutomation | None
    plan: RunPlan


def plan_record(
    old_image: Mapping[str, Any] | None,
    new_image: Mapping[str, Any] | None,
    event_id: str,
    automation_for: Callable[[str], TenantAutomation],
) -> RecordPlan:
    """The dispatcher's per-record path: a DealsTable stream record's ``OldImage`` and
    ``NewImage`` (DynamoDB JSON, as Lambda delivers them; either may be missing) and its
    ``eventID`` in, the run plan out. The images are decoded into plain dicts and diffed directly;
    the tenant's automation (``automation_for(tenant_id)``) is asked for only when the change
    entered a stage or changed a field. Nothing is started or logged here (``dealflow.engine.dispatcher``
    does that); run requests are plain data until ``RunPlan.runs`` validates them."""
    change = item_change(old_image, new_image, records.value)
    if change.kind is ChangeKind.DELETED:
        return RecordPlan(change, None, RunPlan())
    if change.entered is None:
        # An edit that moved no deal concerns only field triggers, processes started on change and
        # field–step workflows: what changed is worked out only for a tenant that has one of them.
        assert old_image is not None and new_image is not None
        if not touched(old_image, new_image):
            return RecordPlan(change, None, RunPlan())
        automation = automation_for(change.tenant_id)
        if not (automation.index.watches_edits or automation.workflows) or not change.changed_fields:
            return RecordPlan(change, None, RunPlan())
    else:
        automation = automation_for(change.tenant_id)
    return RecordPlan(change, automation, plan_runs(change, automation, event_id))


def plan_event(
    item: Deal, event: str, automation: TenantAutomation, event_id: str, custom_event: str | None = None
) -> RunPlan:
    """The trigger runs an outside event (a paid invoice, a clicked link) starts for an item."""
    candidates = [
        c
        for c in automation.index.on_event(event)
        if c.automation.kind == "trigger"
        and c.automation.pipeline_id == item.pipeline_id
        and (event != "custom" or c.automation.custom_event == custom_event)
    ]
    outside = item.model_copy(update={"caused_by": None})  # an outside event starts a new chain
    change = diff(outside, outside)
    return plan_candidates(
        change,
        candidates,
        event_id,
        _event_entry(change, event),
        flagged=automation.warnings,
        tenant_values=automation.condition_values,
    )
