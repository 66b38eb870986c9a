"""From one deal change to the runs it starts.

Automation is indexed when a tenant's definitions are compiled: rules and tunnels by the
(pipeline, stage) whose entry starts them, triggers by the event they wait for. A change costs a
dictionary lookup plus the conditions of the automation found, however much the tenant has. Each
run gets a name derived from the stream record and the automation: starting it twice (a
redelivered record) is a no-op on AWS and in the local invoke port alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dealflow.engine.changes import ChangeKind, DealChange, diff, flat, tenant_facts
from dealflow.engine.compiled import MAX_DEPTH, CompiledAutomation, TenantAutomation
from dealflow.language.conditions import compile_condition
from dealflow.model import Deal, RunRequest, StageEntry, TypedValue
from dealflow.model.automation import Trigger
from dealflow.model.pipeline import StageSemantic
from dealflow.model.process import BusinessProcess
from dealflow.ports import RunStarter


@dataclass
class RunPlan:
    """The runs one change (or one outside event) starts, and why the others do not."""

    runs: list[RunRequest] = field(default_factory=list)
    not_started: list[dict[str, Any]] = field(default_factory=list)
    loop_stopped: list[CompiledAutomation] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # flagged automation: broken references


def run_id_for(event_id: str, automation_id: str) -> str:
    """The durable execution name: same record + same automation = same run."""
    digest = hashlib.sha256(f"{event_id}\x1f{automation_id}".encode()).hexdigest()
    return f"run-{digest[:48]}"


def _request(
    change_item: Deal, compiled: CompiledAutomation, event_id: str, started_by: StageEntry, target_id: str | None = None
) -> RunRequest:
    cause = change_item.caused_by
    # Every part is an already validated model: construct without validating again.
    return RunRequest.model_construct(
        run_id=run_id_for(event_id, compiled.automation.id),
        tenant_id=change_item.tenant_id,
        event_id=event_id,
        deal=change_item,
        started_by=started_by,
        automation=compiled.automation,
        target_id=target_id,
        depth=(cause.depth if cause else 0) + 1,
        chain=list(cause.chain) if cause else [],
    )


def plan_candidates(
    change: DealChange,
    candidates: Sequence[CompiledAutomation],
    event_id: str,
    started_by: StageEntry | None = None,
    target_id: str | None = None,
    flagged: Mapping[str, list[str]] | None = None,
    *,
    tenant_values: dict[str, Any] | None = None,
) -> RunPlan:
    """Of the automation a change concerns, start what its condition lets through (loop guard
    first). With a ``target_id`` the condition is about another item and is checked by the run.
    ``flagged`` automation (broken references) is skipped before its condition, which may itself
    read what is gone."""
    plan = RunPlan()
    started_by = started_by or change.stage_entry
    if not candidates or started_by is None or change.new is None:
        return plan
    if change.depth >= MAX_DEPTH:
        plan.loop_stopped.extend(candidates)
        return plan
    new = flat(change.new)
    old = flat(change.old) if any(c.reads_before for c in candidates) else None
    assert new is not None
    if tenant_values:  # constants and variables, as they are now, for the deal before and after
        new, old = {**new, **tenant_values}, ({**old, **tenant_values} if old is not None else None)
    for compiled in candidates:
        missing = (flagged or {}).get(compiled.automation.id)
        if missing:
            plan.skipped.append(
                {"automation": compiled.automation, "reason": "broken references: " + "; ".join(missing)}
            )
            continue
        trace: list[dict[str, Any]] = []
        if target_id is not None or compiled.predicate(new, old, trace):
            plan.runs.append(_request(change.new, compiled, event_id, started_by, target_id))
        else:
            plan.not_started.append(
                {
                    "automation_id": compiled.automation.id,
                    "automation": compiled.automation,
                    "reason": "condition not met",
                    "trace": trace,
                }
            )
    return plan


def _merge(into: RunPlan, other: RunPlan) -> RunPlan:
    into.runs += other.runs
    into.not_started += other.not_started
    into.loop_stopped += other.loop_stopped
    into.skipped += other.skipped
    return into


def _event_entry(item: Deal, event: str) -> StageEntry:
    return StageEntry.model_construct(pipeline_id=item.pipeline_id, stage_id=item.stage_id, event=event)


def plan_runs(change: DealChange, automation: TenantAutomation, event_id: str) -> RunPlan:
    """Everything a change starts: the rules and tunnels of the stage it entered, triggers on the
    fields it changed, business processes started on add or change, and a linked lead's triggers
    when a deal is won or lost. Each part is looked up first and built only when something waits."""
    plan = RunPlan()
    new, entry = change.new, change.stage_entry
    if new is None:
        return plan
    index, flagged, values = automation.index, automation.warnings, tenant_facts(automation.tenant)
    if entry is not None:
        _merge(
            plan,
            plan_candidates(
                change,
                index.on_stage(entry.pipeline_id, entry.stage_id),
                event_id,
                flagged=flagged,
                tenant_values=values,
            ),
        )
    if change.kind is ChangeKind.UPDATED and change.changed_fields:
        watching = [
            c
            for c in index.on_event("field_changed")
            if isinstance(c.automation, Trigger)
            and c.automation.pipeline_id == new.pipeline_id
            and c.automation.field in change.changed_fields
        ]
        if watching:
            _merge(
                plan,
                plan_candidates(
                    change,
                    watching,
                    event_id,
                    _event_entry(new, "field_changed"),
                    flagged=flagged,
                    tenant_values=values,
                ),
            )
    if change.kind is ChangeKind.CREATED or change.changed_fields:
        start = "add" if change.kind is ChangeKind.CREATED else "change"
        writer = new.caused_by.automation_id if new.caused_by else None
        # A process does not restart itself from its own writes.
        processes = [
            c
            for c in index.processes(new.entity, start)
            if c.automation.pipeline_id in (None, new.pipeline_id) and c.automation.id != writer
        ]
        if processes:
            started = _event_entry(new, "added" if start == "add" else "changed")
            process_plan = plan_candidates(change, processes, event_id, started, flagged=flagged)
            for request in process_plan.runs:
                request.previous = change.old
            _merge(plan, process_plan)
    if entry is not None and new.entity == "deal" and new.lead_id:
        pipeline = automation.pipelines.get(new.pipeline_id)
        stage = pipeline.stage(new.stage_id) if pipeline else None
        if stage is not None and stage.semantic is not StageSemantic.IN_PROGRESS:
            event = "linked_deal_won" if stage.semantic is StageSemantic.WON else "linked_deal_lost"
            started = entry.model_copy(update={"event": event})
            _merge(
                plan,
                plan_candidates(
                    change,
                    index.on_event(event),
                    event_id,
                    started,
                    target_id=new.lead_id,
                    flagged=flagged,
                    tenant_values=values,
                ),
            )
    return plan


def plan_event(
    item: Deal, event: str, automation: TenantAutomation, event_id: str, custom_event: str | None = None
) -> RunPlan:
    """The trigger runs an outside event (a paid invoice, a clicked link) starts for an item."""
    candidates = [
        c
        for c in automation.index.on_event(event)
        if isinstance(c.automation, Trigger)
        and c.automation.pipeline_id == item.pipeline_id
        and (event != "custom" or c.automation.custom_event == custom_event)
    ]
    outside = item.model_copy(update={"caused_by": None})  # an outside event starts a new chain
    return plan_candidates(
        diff(outside, outside),
        candidates,
        event_id,
        _event_entry(item, event),
        flagged=automation.warnings,
        tenant_values=tenant_facts(automation.tenant),
    )


def manual_run(
    item: Deal, process: BusinessProcess, request_id: str, parameters: dict[str, Any] | None = None
) -> RunRequest:
    """A process started by hand (or by the API) on one item; ``request_id`` names the start.
    Parameters are checked against the process's declared types (unknown names are refused)."""
    if "manual" not in process.start_on:
        raise ValueError(f"business process '{process.id}' is not started by hand")
    if item.entity != process.entity:
        raise ValueError(f"business process '{process.id}' runs on {process.entity}s, not {item.entity}s")
    started = StageEntry(pipeline_id=item.pipeline_id, stage_id=item.stage_id, event="manual")
    unknown = sorted(set(parameters or {}) - set(process.parameters))
    if unknown:
        raise ValueError(f"parameters: business process '{process.id}' has no parameter {', '.join(unknown)}")
    values = {
        name: TypedValue(type=spec.type, value=(parameters or {}).get(name, spec.value)).value
        for name, spec in process.parameters.items()
    }
    compiled = CompiledAutomation(process, compile_condition(None))
    request = _request(item.model_copy(update={"caused_by": None}), compiled, f"manual:{request_id}", started)
    request.parameters = values
    return request


class DispatcherLog(Protocol):
    def loop_stopped(self, change: DealChange, event_id: str, stopped: Sequence[CompiledAutomation]) -> None: ...

    def not_started(self, change: DealChange, event_id: str, entries: Sequence[dict[str, Any]]) -> None: ...

    def skipped(self, change: DealChange, event_id: str, entries: Sequence[dict[str, Any]]) -> None: ...


class Dispatcher:
    """Turns stream records into started runs. One instance per container; ``new_batch`` makes
    each tenant's automation load at most once per batch."""

    def __init__(
        self,
        load: Callable[[str], TenantAutomation],
        starter: RunStarter,
        log: DispatcherLog,
        on_deleted: Callable[[str, str], object] | None = None,
        on_change: Callable[[DealChange, TenantAutomation, str], object] | None = None,
    ) -> None:
        self._load = load
        self._starter = starter
        self._log = log
        self._on_deleted = on_deleted
        # Work a change calls for besides runs (field–step workflows marking steps done).
        self._on_change = on_change
        self._batch: dict[str, TenantAutomation] = {}

    def new_batch(self) -> None:
        self._batch = {}

    def automation_for(self, tenant_id: str) -> TenantAutomation:
        if tenant_id not in self._batch:
            self._batch[tenant_id] = self._load(tenant_id)
        return self._batch[tenant_id]

    def handle(self, old: Deal | None, new: Deal | None, event_id: str) -> list[str]:
        """Start the runs one change calls for; returns the run ids that started."""
        change = diff(old, new)
        if change.kind is ChangeKind.DELETED:
            if self._on_deleted is not None:
                self._on_deleted(change.tenant_id, change.deal_id)
            return []
        if change.stage_entry is None and not change.changed_fields:
            return []
        automation = self.automation_for(change.tenant_id)
        if self._on_change is not None:
            self._on_change(change, automation, event_id)
        plan = plan_runs(change, automation, event_id)
        if plan.loop_stopped:
            self._log.loop_stopped(change, event_id, plan.loop_stopped)
        if plan.not_started:
            self._log.not_started(change, event_id, plan.not_started)
        if plan.skipped:
            self._log.skipped(change, event_id, plan.skipped)
        return self.start(plan)

    def start(self, plan: RunPlan) -> list[str]:
        return [run.run_id for run in plan.runs if self._starter.start(run)]
