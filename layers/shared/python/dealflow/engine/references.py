"""What each automation references — pipelines, stages, custom fields, users, constants — and
which of those references no longer resolve.

The API refuses automation whose references are broken when it is written (a 422); this module
also answers the later question: a pipeline, stage or field was deleted (or a field changed kind,
a user or constant was removed) — which automation did that break? Broken automation is flagged,
never deleted, and the dispatcher skips it. Each reference keeps the path where the author wrote
it (``condition.all.0.field``), so a warning points at the place to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from dealflow.engine.writes import Write, writes_of
from dealflow.language.checks import texts_in
from dealflow.language.templates import ALL_CUSTOM_FIELDS, WHOLE_DEAL, names_read
from dealflow.model import (
    STANDARD_FIELDS,
    AllOf,
    AnyOf,
    Assign,
    BusinessProcess,
    Clause,
    Condition,
    FieldDefinition,
    FieldKind,
    Pipeline,
    Role,
    Rule,
    Tenant,
    Trigger,
    Tunnel,
)
from dealflow.model.catalog import Automation
from dealflow.model.conditions import ConstOperand, FieldOperand
from dealflow.model.workflow import FieldStepWorkflow

if TYPE_CHECKING:  # compiled.py builds on this module
    from dealflow.engine.compiled import TenantAutomation

RefKind = Literal["pipeline", "stage", "step", "field", "user", "constant", "role", "calendar"]
# Users, roles, constants and the calendar live on the tenant and change without an
# automation-version bump, so references to them are re-checked against each freshly read tenant.
TENANT_KINDS = frozenset({"user", "constant", "role", "calendar"})
_ORDERED_OPS = frozenset({"gt", "gte", "lt", "lte"})
_ORDERED_KINDS = frozenset({FieldKind.NUMBER, FieldKind.DATE})
# Names that always resolve: the deal's own fields, and the deal (or its custom fields) as a whole.
_ALWAYS_THERE = STANDARD_FIELDS | {WHOLE_DEAL, ALL_CUSTOM_FIELDS}


@dataclass(frozen=True, slots=True)
class Reference:
    kind: RefKind
    name: str  # pipeline id, stage id, field code (or standard field name), user id or constant name
    at: str  # where the author wrote it: actions.0.to.users.1
    pipeline_id: str | None = None  # a stage's pipeline
    op: str | None = None  # the operator of the condition reading a field (does its kind still fit?)


@dataclass(frozen=True, slots=True)
class Broken:
    reference: Reference
    problem: str  # as a 422 names it when the automation is written

    @property
    def warning(self) -> str:
        """As a flag on stored automation: ``field 'budget' no longer exists (condition.field)``."""
        ref = self.reference
        what = {
            "pipeline": f"pipeline '{ref.name}' no longer exists",
            "stage": f"stage '{ref.name}' no longer exists in pipeline '{ref.pipeline_id}'",
            "step": f"step '{ref.name}' no longer exists in pipeline '{ref.pipeline_id}'",
            "field": f"field '{ref.name}' no longer exists",
            "user": f"user '{ref.name}' no longer exists",
            "constant": f"constant '{ref.name}' no longer exists",
            "role": f"role '{ref.name}' has no users any more",
            "calendar": "the tenant's working calendar no longer exists",
        }[ref.kind]
        if ref.kind == "field" and not self.problem.startswith("no field"):
            what = self.problem
        return f"{what} ({ref.at})"


def _node_conditions(tree: list[Any], at: str) -> list[tuple[str, Condition]]:
    found: list[tuple[str, Condition]] = []
    for i, node in enumerate(tree):
        here = f"{at}.{i}"
        if node.kind == "action":
            found += _node_conditions(node.fault, f"{here}.fault")
        elif node.kind == "condition":
            for j, branch in enumerate(node.branches):
                found.append((f"{here}.branches.{j}.condition", branch.condition))
                found += _node_conditions(branch.nodes, f"{here}.branches.{j}.nodes")
            found += _node_conditions(node.otherwise, f"{here}.otherwise")
        elif node.kind == "loop":
            found.append((f"{here}.while", node.while_))
            found += _node_conditions(node.nodes, f"{here}.nodes")
    return found


def conditions_at(automation: Automation) -> list[tuple[str, Condition]]:
    """Every condition of ``automation`` with where its author wrote it (``condition``,
    ``nodes.0.branches.1.condition``, ``nodes.2.while``)."""
    if isinstance(automation, BusinessProcess):
        return _node_conditions(automation.nodes, "nodes")
    return [] if automation.condition is None else [("condition", automation.condition)]


class _Collector:
    def __init__(self, writes: list[Write]) -> None:
        self.found: list[Reference] = []
        self.writes = writes

    def add(self, kind: RefKind, name: str, at: str, **extra: Any) -> None:
        ref = Reference(kind, name, at, **extra)
        if ref not in self.found:
            self.found.append(ref)

    def field(self, at: str, name: str, op: str | None = None) -> None:
        if name.startswith("var."):
            return
        if name.startswith("const."):
            self.add("constant", name.removeprefix("const."), at)
        else:
            self.add("field", name, at, op=op)

    def condition(self, at: str, condition: Any) -> None:
        if isinstance(condition, Clause):
            self.field(f"{at}.field", condition.field, condition.op)
            operand = condition.operand
            if isinstance(operand, ConstOperand):
                self.add("constant", operand.const, f"{at}.value.const")
            elif isinstance(operand, FieldOperand):
                self.field(f"{at}.value.field", operand.field, condition.op)
        elif isinstance(condition, AllOf | AnyOf):
            key = "all" if isinstance(condition, AllOf) else "any"
            for i, inner in enumerate(getattr(condition, key)):
                self.condition(f"{at}.{key}.{i}", inner)

    def texts(self, at: str, value: BaseModel) -> None:
        for text in texts_in(value, loc=tuple(at.split("."))):
            for kind, name in names_read(text.source, text.expression):
                if kind == "constant":
                    self.add("constant", name, text.at)
                else:
                    self.field(text.at, name)

    def delay(self, at: str, delay: Any) -> None:
        if delay is not None and delay.relative_to_field:
            self.field(f"{at}.relative_to_field", delay.relative_to_field, "date")
        if delay is not None and delay.in_working_time:
            self.add("calendar", "tenant", f"{at}.{'working_days' if delay.working_days else 'working_hours'}")

    def place(self, at: str, pipeline_id: str | None, stage_id: str) -> None:
        if pipeline_id is not None:
            self.add("pipeline", pipeline_id, f"{at}pipeline_id")
            self.add("stage", stage_id, f"{at}stage_id", pipeline_id=pipeline_id)

    def written(self, by: str) -> None:
        """The stages and fields written by ``by`` (an action's path; "" the automation itself)."""
        for write in (w for w in self.writes if w.by == by):
            if write.kind == "field":
                self.field(write.at, write.name)
            elif write.pipeline_id is not None:
                if write.pipeline_at is not None:
                    self.add("pipeline", write.pipeline_id, write.pipeline_at)
                self.add("stage", write.name, write.at, pipeline_id=write.pipeline_id)

    def action(self, at: str, action: BaseModel) -> None:
        to = getattr(action, "to", None)
        for i, user_id in enumerate(to.users if to is not None else []):
            self.add("user", user_id, f"{at}.to.users.{i}")
        for key in ("assignee_id", "owner_id"):
            if getattr(action, key, None):
                self.add("user", getattr(action, key), f"{at}.{key}")
        for i, user_id in enumerate(getattr(action, "members", None) or []):
            self.add("user", user_id, f"{at}.members.{i}")
        if isinstance(action, Assign):
            for i, user_id in enumerate(action.users):
                self.add("user", user_id, f"{at}.users.{i}")
            if action.role is not None:
                self.add("role", action.role, f"{at}.role")
        if getattr(action, "within_working_hours", None) is not None:
            self.add("calendar", "tenant", f"{at}.within_working_hours")
        self.texts(at, action)
        self.written(at)

    def nodes(self, at: str, tree: list[Any], pipeline_id: str | None = None) -> None:
        for i, node in enumerate(tree):
            here = f"{at}.{i}"
            if node.kind == "action":
                self.action(f"{here}.action", node.action)
                self.nodes(f"{here}.fault", node.fault, pipeline_id)
            elif node.kind == "condition":
                for j, branch in enumerate(node.branches):
                    self.condition(f"{here}.branches.{j}.condition", branch.condition)
                    self.nodes(f"{here}.branches.{j}.nodes", branch.nodes, pipeline_id)
                self.nodes(f"{here}.otherwise", node.otherwise, pipeline_id)
            elif node.kind == "loop":
                self.condition(f"{here}.while", node.while_)
                self.nodes(f"{here}.nodes", node.nodes, pipeline_id)
            elif node.kind == "delay":
                self.delay(f"{here}.delay", node.delay)
            elif node.kind == "set_variable":
                self.texts(here, node)
            elif node.kind == "wait_for":
                self.until(f"{here}.until", node.until, pipeline_id)
                self.nodes(f"{here}.received", node.received, pipeline_id)
                self.nodes(f"{here}.timed_out", node.timed_out, pipeline_id)

    def until(self, at: str, until: Any, pipeline_id: str | None) -> None:
        """What a wait_for waits for: a field condition's fields, a stage (in its own pipeline, or
        the process's; unchecked when neither names one)."""
        if until.kind == "field":
            self.condition(f"{at}.condition", until.condition)
        elif until.kind == "stage_reached":
            pipeline = until.pipeline_id or pipeline_id
            if until.pipeline_id is not None:
                self.add("pipeline", until.pipeline_id, f"{at}.pipeline_id")
            if pipeline is not None:
                self.add("stage", until.stage_id, f"{at}.stage_id", pipeline_id=pipeline)
        elif until.kind == "step_done" and pipeline_id is not None:
            self.add("step", until.step_id, f"{at}.step_id", pipeline_id=pipeline_id)


def references_of(automation: Automation) -> list[Reference]:
    """Everything ``automation`` names, with where it names it: standard deal fields and the deal as
    a whole (``WHOLE_DEAL``) too, which always resolve."""
    refs = _Collector(writes_of(automation))
    if automation.goal is not None:
        refs.condition("goal.condition", automation.goal.condition)
    for i, criterion in enumerate(automation.exits):
        refs.condition(f"exits.{i}.condition", criterion.condition)
    if isinstance(automation, BusinessProcess):
        if automation.pipeline_id is not None:
            refs.add("pipeline", automation.pipeline_id, "pipeline_id")
        if automation.schedule is not None:
            for i, stage_id in enumerate(automation.schedule.stage_ids):
                refs.add("stage", stage_id, f"schedule.stage_ids.{i}", pipeline_id=automation.pipeline_id)
            refs.condition("schedule.condition", automation.schedule.condition)
        if automation.on_date is not None:
            refs.field("on_date.field", automation.on_date.field, "date")
        refs.nodes("nodes", automation.nodes, automation.pipeline_id)
        return refs.found
    refs.place("", automation.pipeline_id, automation.stage_id)
    refs.condition("condition", automation.condition)
    refs.written("")
    if isinstance(automation, Trigger) and automation.field:
        refs.field("field", automation.field)
    if isinstance(automation, Rule | Tunnel):
        refs.delay("delay", automation.delay)
    if isinstance(automation, Rule):
        for i, action in enumerate(automation.actions):
            refs.action(f"actions.{i}", action)
    return refs.found


def _field_problem(ref: Reference, fields: Mapping[str, FieldDefinition]) -> str | None:
    if ref.name in _ALWAYS_THERE:
        return None
    definition = fields.get(ref.name)
    if definition is None:
        return f"no field '{ref.name}' (neither a standard deal field nor a custom field of this tenant)"
    if ref.op == "date" and definition.kind is not FieldKind.DATE:
        needs = "a date trigger" if ref.at.startswith("on_date.") else "a delay"
        return f"field '{ref.name}' is a {definition.kind} field now; {needs} needs a date field"
    if ref.op in _ORDERED_OPS and definition.kind not in _ORDERED_KINDS:
        return f"field '{ref.name}' is a {definition.kind} field now; '{ref.op}' needs a number or date field"
    return None


def _role_problem(role: str, tenant: Tenant) -> str | None:
    if role not in {r.value for r in Role}:
        return f"no role '{role}' (roles: {', '.join(r.value for r in Role)})"
    if not any(u.role.value == role for u in tenant.users):
        return f"no user has role '{role}' in this tenant"
    return None


def broken(
    refs: Iterable[Reference],
    pipelines: Mapping[str, Pipeline] | None = None,
    fields: Mapping[str, FieldDefinition] | None = None,
    tenant: Tenant | None = None,
) -> list[Broken]:
    """The references that do not resolve. Only the kinds whose owner is given are checked
    (pipelines: pipelines and stages; fields; tenant: users and constants); a stage of a missing
    pipeline is not reported twice."""
    found: list[Broken] = []
    for ref in refs:
        problem: str | None = None
        if ref.kind == "pipeline" and pipelines is not None and ref.name not in pipelines:
            problem = f"no pipeline '{ref.name}' in this tenant"
        elif ref.kind == "stage" and pipelines is not None:
            pipeline = pipelines.get(ref.pipeline_id or "")
            if pipeline is not None and pipeline.stage(ref.name) is None:
                problem = f"no stage '{ref.name}' in pipeline '{ref.pipeline_id}'"
        elif ref.kind == "step" and pipelines is not None:
            pipeline = pipelines.get(ref.pipeline_id or "")
            if pipeline is not None and pipeline.step(ref.name) is None:
                problem = f"no step '{ref.name}' in pipeline '{ref.pipeline_id}'"
        elif ref.kind == "field" and fields is not None:
            problem = _field_problem(ref, fields)
        elif ref.kind == "user" and tenant is not None and tenant.user(ref.name) is None:
            problem = f"no user '{ref.name}' in this tenant"
        elif ref.kind == "constant" and tenant is not None and ref.name not in tenant.constants:
            problem = f"no constant '{ref.name}' in this tenant"
        elif ref.kind == "role" and tenant is not None:
            problem = _role_problem(ref.name, tenant)
        elif ref.kind == "calendar" and tenant is not None and tenant.calendar is None:
            problem = "the tenant has no working calendar (set one with PUT /calendar)"
        if problem is not None:
            found.append(Broken(ref, problem))
    return found


@dataclass(frozen=True)
class ReferenceReport:
    """A tenant's broken references, computed when its automation is compiled: those to pipelines,
    stages and fields (which only change with an automation-version bump) once; those to users
    and constants kept as references and checked against each fresh tenant."""

    by_definitions: dict[str, list[str]] = field(default_factory=dict)
    tenant_refs: dict[str, list[Reference]] = field(default_factory=dict)

    def warnings(self, tenant: Tenant) -> dict[str, list[str]]:
        """Automation id → its warnings (only flagged automation appears)."""
        found: dict[str, list[str]] = {}
        for automation_id in {*self.by_definitions, *self.tenant_refs}:
            flagged = [
                *self.by_definitions.get(automation_id, []),
                *(b.warning for b in broken(self.tenant_refs.get(automation_id, []), tenant=tenant)),
            ]
            if flagged:
                found[automation_id] = flagged
        return found


def report(
    automations: Iterable[Automation], pipelines: Mapping[str, Pipeline], fields: Mapping[str, FieldDefinition]
) -> ReferenceReport:
    by_definitions: dict[str, list[str]] = {}
    tenant_refs: dict[str, list[Reference]] = {}
    for automation in automations:
        refs = references_of(automation)
        flagged = [b.warning for b in broken([r for r in refs if r.kind not in TENANT_KINDS], pipelines, fields)]
        if flagged:
            by_definitions[automation.id] = flagged
        on_tenant = [r for r in refs if r.kind in TENANT_KINDS]
        if on_tenant:
            tenant_refs[automation.id] = on_tenant
    return ReferenceReport(by_definitions, tenant_refs)


def workflow_warnings(
    workflow: FieldStepWorkflow, pipelines: Mapping[str, Pipeline], fields: Mapping[str, FieldDefinition]
) -> list[str]:
    """What keeps a field–step workflow from working: its field, pipeline or step is gone."""
    found = []
    if workflow.field_code not in fields:
        found.append(f"field '{workflow.field_code}' no longer exists")
    pipeline = pipelines.get(workflow.pipeline_id)
    if pipeline is None:
        found.append(f"pipeline '{workflow.pipeline_id}' no longer exists")
    elif pipeline.step(workflow.step_id) is None:
        found.append(f"step '{workflow.step_id}' no longer exists in pipeline '{workflow.pipeline_id}'")
    return found


WORKFLOW_KIND = "field_step_workflow"


@dataclass(frozen=True)
class NewlyBroken:
    """Automation (``kind`` its kind) or a field–step workflow (``kind`` WORKFLOW_KIND) a change broke,
    with all its warnings."""

    id: str
    name: str
    kind: str
    warnings: list[str]


def broken_since(before: TenantAutomation, after: TenantAutomation) -> list[NewlyBroken]:
    """Everything with a warning ``after`` a change (a pipeline, stage, step, field, user or
    constant deleted or changed) that it did not have ``before``: automation first, then field–step
    workflows, each in id order."""
    found = []
    for automation_id, warnings in sorted(after.warnings.items()):
        if set(warnings) - set(before.warnings.get(automation_id, [])):
            automation = after.by_id[automation_id]
            found.append(NewlyBroken(automation_id, automation.name, automation.kind, warnings))
    for workflow_id, workflow in sorted(after.workflows.items()):
        warnings = workflow_warnings(workflow, after.pipelines, after.fields)
        earlier = before.workflows.get(workflow_id)
        had = workflow_warnings(earlier, before.pipelines, before.fields) if earlier is not None else []
        if set(warnings) - set(had):
            found.append(NewlyBroken(workflow_id, workflow.name, WORKFLOW_KIND, warnings))
    return found
