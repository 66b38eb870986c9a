"""A tenant's automation, compiled: conditions turned into predicates, automation indexed by what
starts it, broken references found. Compiled once per automation version and cached per container
(``dealflow.store.automation.AutomationStore.load`` keeps the copy; this module makes it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from dealflow.engine.changes import tenant_facts
from dealflow.language.conditions import Predicate, Test, compile_condition, facts, reads_before, referenced_fields

# The dispatcher imports this module; what compiling needs (the models, the reference checks and
# their Jinja2) loads with the first automation compiled, not at import (cold start).
if TYPE_CHECKING:
    from dealflow.engine.references import ReferenceReport
    from dealflow.model import FieldDefinition, Pipeline, Tenant
    from dealflow.model.catalog import Automation
    from dealflow.model.enrollment import Enrollment
    from dealflow.model.workflow import FieldStepWorkflow

# Automation writes carry their chain depth; past this, a chain is a loop, not a process.
MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class CompiledAutomation:
    automation: Automation
    predicate: Predicate
    reads_before: bool = False  # its condition compares with the deal as it was
    # The condition over normalised facts; None when there is none (the automation always starts).
    test: Test | None = field(init=False, default=None)
    # What every run request of it carries, worked out once here rather than per planned run.
    ref: dict[str, Any] = field(init=False, default_factory=dict)
    compared: frozenset[str] = field(init=False, default=frozenset())
    name_key: bytes = field(init=False, default=b"")  # the id as its runs' names hash it (run_requests)

    def __post_init__(self) -> None:
        from dealflow.engine.compile_run import compared_fields
        from dealflow.model.catalog import content_digest

        automation = self.automation
        object.__setattr__(self, "test", None if automation.condition is None else self.predicate.test)
        ref = {"id": automation.id, "version": automation.version, "digest": content_digest(automation)}
        object.__setattr__(self, "ref", ref | {"kind": automation.kind, "name": automation.name})
        object.__setattr__(self, "compared", compared_fields(automation))
        object.__setattr__(self, "name_key", automation.id.encode())


class AutomationIndex:
    """Enabled automation by what starts it."""

    def __init__(self, automations: Iterable[Automation]) -> None:
        from dealflow.engine.compile_run import wait_fors
        from dealflow.model.automation import Trigger
        from dealflow.model.process import BusinessProcess

        by_stage: dict[tuple[str, str], list[CompiledAutomation]] = {}
        by_event: dict[str, list[CompiledAutomation]] = {}
        # Whether any run may wait for an event (a wait_for node): else no change and no webhook
        # looks for waiting runs at all.
        self.waits_for_events = False
        # Automation whose enrollment rule limits its starts, by id: empty (the common case), and
        # the dispatcher reads no enrollment record at all.
        self.enrolling: dict[str, Enrollment] = {}
        for automation in automations:
            if not automation.enabled:
                continue
            if isinstance(automation, BusinessProcess) and not self.waits_for_events:
                self.waits_for_events = bool(wait_fors(automation.nodes))
            if automation.enrollment is not None and automation.enrollment.limits:
                self.enrolling[automation.id] = automation.enrollment
            compiled = CompiledAutomation(
                automation, compile_condition(automation.condition), reads_before(automation.condition)
            )
            if isinstance(automation, Trigger):
                by_event.setdefault(automation.event, []).append(compiled)
            elif isinstance(automation, BusinessProcess):
                for start in automation.start_on:
                    by_event.setdefault(f"process:{automation.entity}:{start}", []).append(compiled)
            else:
                by_stage.setdefault((automation.pipeline_id, automation.stage_id), []).append(compiled)
        self._by_stage = {key: tuple(found) for key, found in by_stage.items()}
        # Every field an enabled condition reads: all the dispatcher needs to normalise of a deal.
        self.reads = frozenset(
            name
            for found in (*by_stage.values(), *by_event.values())
            for compiled in found
            for name in referenced_fields(compiled.automation.condition)
        )
        self._by_event = {key: tuple(found) for key, found in by_event.items()}
        self._processes = {
            (entity, start): found
            for key, found in self._by_event.items()
            if key.startswith("process:")
            for entity, start in [key.split(":")[1:3]]
        }
        # Whether a linked lead's triggers wait for its deal being won or lost: else a stage
        # entry need not look the lead up.
        self.waits_for_leads = bool(self.on_event("linked_deal_won") or self.on_event("linked_deal_lost"))
        # Whether anything waits for fields changing without a stage entry (triggers on a field,
        # processes started on change): else an edit that moves no deal is not diffed at all.
        self.watches_edits = (
            bool(self.on_event("field_changed"))
            or any(start == "change" for _, start in self._processes)
            or self.waits_for_events
        )
        # Date field → processes triggered by the date in it: the dispatcher arms their timers when
        # an item's date changes; empty (the common case), it arms nothing and reads nothing more.
        dated: dict[str, list[CompiledAutomation]] = {}
        for entity in ("deal", "lead"):
            for compiled in self.processes(entity, "date"):
                on_date = getattr(compiled.automation, "on_date", None)
                if on_date is not None:
                    dated.setdefault(on_date.field, []).append(compiled)
        self.dated = {name: tuple(found) for name, found in dated.items()}

    def on_stage(self, pipeline_id: str, stage_id: str) -> tuple[CompiledAutomation, ...]:
        """Rules and tunnels that run when a deal enters this stage."""
        return self._by_stage.get((pipeline_id, stage_id), ())

    def on_event(self, event: str) -> tuple[CompiledAutomation, ...]:
        """Triggers waiting for this event, in every pipeline."""
        return self._by_event.get(event, ())

    def processes(self, entity: str, start: str) -> tuple[CompiledAutomation, ...]:
        """Business processes of an entity that start on ``add``, ``change`` or ``manual``."""
        return self._processes.get((entity, start), ())


@dataclass(frozen=True)
class TenantAutomation:
    """A tenant's automation, compiled; cached per container and keyed by ``version``."""

    tenant: Tenant
    pipelines: dict[str, Pipeline]
    fields: dict[str, FieldDefinition]
    index: AutomationIndex
    version: int
    by_id: dict[str, Automation] = field(default_factory=dict)  # switched off ones too
    # Automation id → what it references that no longer exists; the dispatcher skips it.
    warnings: dict[str, list[str]] = field(default_factory=dict)
    workflows: dict[str, FieldStepWorkflow] = field(default_factory=dict)  # field–step, switched off ones too
    # What the compiled references were checked against; users and constants change without a
    # version bump, so their warnings are worked out afresh on each load.
    references: ReferenceReport | None = field(default=None, repr=False, compare=False)

    @property
    def condition_fields(self) -> frozenset[str]:
        return self.index.reads

    @cached_property
    def condition_values(self) -> dict[str, Any]:
        """The tenant's constants and variables as conditions read them, normalised once per load."""
        return facts(tenant_facts(self.tenant)) or {}


def compile_tenant(tenant: Tenant, definitions: Mapping[str, Sequence[Any]]) -> TenantAutomation:
    """Compile a tenant's stored definitions (by stored kind: PIPELINE, FIELD, RULE, …)."""
    from dealflow.engine.references import report
    from dealflow.model.catalog import STORED_KINDS

    automations = [a for kind in STORED_KINDS for a in definitions.get(kind, ())]
    pipelines = {p.id: p for p in definitions.get("PIPELINE", ())}
    fields = {f.code: f for f in definitions.get("FIELD", ())}
    references = report(automations, pipelines, fields)
    return TenantAutomation(
        tenant=tenant,
        pipelines=pipelines,
        fields=fields,
        index=AutomationIndex(automations),
        by_id={a.id: a for a in automations},
        version=tenant.automation_version,
        warnings=references.warnings(tenant),
        workflows={w.id: w for w in definitions.get("WORKFLOW", ())},
        references=references,
    )


def refresh(compiled: TenantAutomation, tenant: Tenant) -> TenantAutomation:
    """The compiled copy with the tenant as it is now (users, constants) and its warnings redone."""
    assert compiled.references is not None
    return replace(compiled, tenant=tenant, warnings=compiled.references.warnings(tenant))


class TenantCompiler:
    """The ``Compiler`` the automation store is given: compile and refresh, as above."""

    compile = staticmethod(compile_tenant)
    refresh = staticmethod(refresh)
