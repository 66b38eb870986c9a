"""From one deal change to the runs it starts.

Rules are indexed by (pipeline, stage) when a tenant's automation is compiled, so a change costs
one dictionary lookup plus the conditions of the rules on the entered stage, however many rules
the tenant has. Each run gets a name derived from the stream record and the rule: starting it
twice (a redelivered record) is a no-op on AWS and in the local invoke port alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dealflow.changes import DealChange, diff, flat
from dealflow.conditions import Predicate, compile_condition, reads_before
from dealflow.model import Deal, FieldDefinition, Pipeline, Rule, RunRequest, Tenant

# Automation writes carry their chain depth; past this, a chain is a loop, not a process.
MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    predicate: Predicate
    reads_before: bool = False  # its condition compares with the deal as it was


class AutomationIndex:
    """Enabled rules by the stage that starts them."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        by_stage: dict[tuple[str, str], list[CompiledRule]] = {}
        for rule in rules:
            if rule.enabled:
                by_stage.setdefault((rule.pipeline_id, rule.stage_id), []).append(
                    CompiledRule(rule, compile_condition(rule.condition), reads_before(rule.condition)))
        self._by_stage = {key: tuple(rules) for key, rules in by_stage.items()}

    def rules_for(self, pipeline_id: str, stage_id: str) -> tuple[CompiledRule, ...]:
        return self._by_stage.get((pipeline_id, stage_id), ())


@dataclass(frozen=True)
class TenantAutomation:
    """A tenant's automation, compiled; cached per container and keyed by ``version``."""

    tenant: Tenant
    pipelines: dict[str, Pipeline]
    fields: dict[str, FieldDefinition]
    index: AutomationIndex
    version: int


@dataclass
class Plan:
    runs: list[RunRequest] = field(default_factory=list)
    not_started: list[dict[str, Any]] = field(default_factory=list)
    loop_stopped: bool = False


def run_id_for(event_id: str, automation_id: str) -> str:
    """The durable execution name: same record + same automation = same run."""
    digest = hashlib.sha256(f"{event_id}\x1f{automation_id}".encode()).hexdigest()
    return f"run-{digest[:48]}"


def plan_runs(change: DealChange, automation: TenantAutomation, event_id: str) -> Plan:
    """The runs a change starts: the rules of the stage it entered, found through the index."""
    entry = change.stage_entry
    if entry is None or change.new is None:
        return Plan()
    return plan_candidates(change, automation.index.rules_for(entry.pipeline_id, entry.stage_id), event_id)


def plan_candidates(change: DealChange, candidates: Sequence[CompiledRule], event_id: str) -> Plan:
    """Of the rules on the entered stage, start those whose condition holds (loop guard first)."""
    plan = Plan()
    entry = change.stage_entry
    if not candidates or entry is None or change.new is None:
        return plan
    if change.depth >= MAX_DEPTH:
        plan.loop_stopped = True
        return plan
    new = flat(change.new)
    old = flat(change.old) if any(c.reads_before for c in candidates) else None
    assert new is not None
    for compiled in candidates:
        trace: list[dict[str, Any]] = []
        if compiled.predicate(new, old, trace):
            # Every part is an already validated model: construct without validating again.
            plan.runs.append(RunRequest.model_construct(
                run_id=run_id_for(event_id, compiled.rule.id), tenant_id=change.tenant_id,
                event_id=event_id, deal=change.new, trigger=entry, automation=compiled.rule,
                depth=change.depth + 1))
        else:
            plan.not_started.append({"automation_id": compiled.rule.id, "reason": "condition not met",
                                     "trace": trace})
    return plan


class RunStarter(Protocol):
    """Starts a runner execution by name; starting a name that already ran does nothing."""

    def start(self, request: RunRequest) -> bool:
        """Return True when a new run started, False when the name was already taken."""
        ...


class Dispatcher:
    """Turns stream records into started runs. One instance per container; ``new_batch`` makes
    each tenant's automation load at most once per batch."""

    def __init__(self, load: Callable[[str], TenantAutomation], starter: RunStarter,
                 log_loop: Callable[[DealChange, str, tuple[CompiledRule, ...]], None]) -> None:
        self._load = load
        self._starter = starter
        self._log_loop = log_loop
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
        if change.stage_entry is None:
            return []
        automation = self.automation_for(change.tenant_id)
        plan = plan_runs(change, automation, event_id)
        if plan.loop_stopped:
            entry = change.stage_entry
            self._log_loop(change, event_id, automation.index.rules_for(entry.pipeline_id, entry.stage_id))
        return [run.run_id for run in plan.runs if self._starter.start(run)]
