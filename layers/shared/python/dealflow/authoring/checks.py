"""What is checked before automation is written: its templates parse and stay in the sandbox, and
its references resolve — a rule, tunnel or trigger names a pipeline and a stage that exist, a
tunnel's target too, holding the same entity (deals or leads); a stage move stays in the rule's
pipeline; conditions test standard or existing custom fields; messages go to users of the tenant;
templates read existing fields and constants; conditions' values are no templates and compare
like with like (``dealflow.authoring.operands``); a run fits in one durable execution
(``dealflow.authoring.budgets``: operations, waits).
What an automation references is the domain's (``dealflow.engine.references``), what a template may
do the template language's (``dealflow.language``); here each problem becomes a 422 naming the
field as the caller wrote it (``actions.0.to.users.1``, ``actions.0.subject``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import TypeAdapter, WrapValidator

from dealflow import clock
from dealflow.authoring.budgets import budget_problems
from dealflow.authoring.operands import operand_problems
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.field_values import BadFieldValue, field_value, field_values
from dealflow.engine.references import Reference, broken, references_of
from dealflow.engine.writes import writes_of
from dealflow.http_errors import Invalid
from dealflow.language import schedules
from dealflow.language.checks import template_problems, with_template_problems
from dealflow.model import BusinessProcess
from dealflow.model.catalog import Automation
from dealflow.policy.access import automation_entity

# Automation as a caller sends it: when it is invalid, its templates' problems come with the rest.
AutomationBody = Annotated[Automation, WrapValidator(with_template_problems(Automation))]
AUTOMATION: TypeAdapter[Automation] = TypeAdapter(AutomationBody)


class _Problems:
    def __init__(self, known: TenantAutomation) -> None:
        self.known = known
        self.found: list[dict[str, str]] = []

    def add(self, field: str, problem: str) -> None:
        self.found.append({"field": field, "problem": problem})

    def raise_any(self) -> None:
        if self.found:
            raise Invalid(self.found)


def timing_problems(process: BusinessProcess) -> list[dict[str, str]]:
    """A schedule's expression and time zone, a date trigger's time zone, as they would fire."""
    found: list[dict[str, str]] = []
    if process.schedule is not None:
        for name, problem in schedules.check(process.schedule.expression, process.schedule.timezone, clock.now()):
            found.append({"field": f"schedule.{name}", "problem": problem})
    if process.on_date is not None:
        try:
            schedules.zone(process.on_date.timezone)
        except schedules.ScheduleError as exc:
            found.append({"field": "on_date.timezone", "problem": str(exc)})
    return found


def check_templates(automation: Automation) -> None:
    """Raise Invalid naming every template of ``automation`` the engine would refuse to run."""
    problems = template_problems(automation)
    if problems:
        raise Invalid(problems)


def check_automation(automation: Automation, known: TenantAutomation) -> None:
    """Raise Invalid naming every template of ``automation`` the engine would refuse to run, every
    reference that does not resolve, and every way a run would pass the platform's limits: the one
    check before any automation is written."""
    problems = _Problems(known)
    problems.found += template_problems(automation)
    refused = {p["field"] for p in problems.found}
    if isinstance(automation, BusinessProcess):
        problems.found += timing_problems(automation)
    if isinstance(automation, BusinessProcess) and automation.pipeline_id is not None:
        pipeline = known.pipelines.get(automation.pipeline_id)
        if pipeline is not None and pipeline.entity != automation.entity:
            problems.add("pipeline_id", f"pipeline '{pipeline.id}' holds {pipeline.entity}s, not {automation.entity}s")
    # A copy or move into a pipeline of the other entity fails on every run (a deal is never a lead).
    entity = automation_entity(automation, known.pipelines)
    for write in writes_of(automation):
        target = known.pipelines.get(write.pipeline_id or "")
        if write.pipeline_at is not None and target is not None and entity is not None and target.entity != entity:
            problems.add(write.pipeline_at, f"pipeline '{target.id}' holds {target.entity}s, not {entity}s")
    for found in broken(references_of(automation), known.pipelines, known.fields, known.tenant):
        if found.reference.at not in refused:  # a refused template reads nothing worth naming
            problems.add(found.reference.at, found.problem)
    for write in writes_of(automation):
        # A literal its field cannot hold would fail every run that writes it.
        definition = known.fields.get(write.name) if write.kind == "field" else None
        if definition is not None and write.literal is not None:
            try:
                field_value(definition, write.literal, known.tenant)
            except BadFieldValue as exc:
                problems.add(f"{write.at}.value", str(exc))
    problems.found += operand_problems(automation, known)
    problems.found += budget_problems(automation)
    problems.raise_any()


def check_deal(
    known: TenantAutomation,
    *,
    place: tuple[str, str, str] | None = None,
    responsible_id: str | None = None,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Raise Invalid naming every problem of a deal write: ``place`` is (entity, pipeline, stage)
    it goes to, ``responsible_id`` a user of the tenant, ``fields`` existing custom fields, each
    value one its field's kind holds (``field_values``). Returns ``fields`` as their fields hold
    them (numbers as decimals, dates as ISO days; null kept: it removes a value)."""
    problems = _Problems(known)
    refs: list[Reference] = []
    if place is not None:
        entity, pipeline_id, stage_id = place
        refs += [
            Reference("pipeline", pipeline_id, "pipeline_id"),
            Reference("stage", stage_id, "stage_id", pipeline_id=pipeline_id),
        ]
        pipeline = known.pipelines.get(pipeline_id)
        if pipeline is not None and pipeline.entity != entity:
            problems.add("pipeline_id", f"pipeline '{pipeline_id}' holds {pipeline.entity}s, not {entity}s")
    if responsible_id is not None:
        refs.append(Reference("user", responsible_id, "responsible_id"))
    for found in broken(refs, known.pipelines, tenant=known.tenant):
        problems.add(found.reference.at, found.problem)
    held, problems_of_values = field_values(fields or {}, known.fields, known.tenant)
    problems.found += problems_of_values
    problems.raise_any()
    return held
