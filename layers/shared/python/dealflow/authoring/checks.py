"""References checked before anything is written: a rule, tunnel or trigger names a pipeline and a
stage that exist, a tunnel's target too; a stage move stays in the rule's pipeline; conditions
test standard or existing custom fields; messages go to users of the tenant; templates read
existing fields and constants. What an automation references is the domain's
(``dealflow.engine.references``); here a broken reference becomes a 422 problem naming the field as the
caller wrote it (``actions.0.to.users.1``)."""

from __future__ import annotations

from typing import Any

from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.references import Reference, broken, references_of
from dealflow.http_errors import Invalid
from dealflow.model import BusinessProcess, Rule, Tunnel
from dealflow.model.catalog import Automation


class _Problems:
    def __init__(self, known: TenantAutomation) -> None:
        self.known = known
        self.found: list[dict[str, str]] = []

    def add(self, field: str, problem: str) -> None:
        self.found.append({"field": field, "problem": problem})

    def raise_any(self) -> None:
        if self.found:
            raise Invalid(self.found)


def check_automation(automation: Automation, known: TenantAutomation) -> None:
    """Raise Invalid naming every reference of ``automation`` that does not resolve."""
    problems = _Problems(known)
    if isinstance(automation, BusinessProcess) and automation.pipeline_id is not None:
        pipeline = known.pipelines.get(automation.pipeline_id)
        if pipeline is not None and pipeline.entity != automation.entity:
            problems.add("pipeline_id", f"pipeline '{pipeline.id}' holds {pipeline.entity}s, not {automation.entity}s")
    for found in broken(references_of(automation), known.pipelines, known.fields, known.tenant):
        problems.add(found.reference.at, found.problem)
    problems.raise_any()


def check_deal(
    known: TenantAutomation,
    *,
    place: tuple[str, str, str] | None = None,
    responsible_id: str | None = None,
    fields: dict[str, Any] | None = None,
) -> None:
    """Raise Invalid naming every problem of a deal write: ``place`` is (entity, pipeline, stage)
    it goes to, ``responsible_id`` a user of the tenant, ``fields`` existing custom fields (a list
    field's value one of its options)."""
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
    for code, value in (fields or {}).items():
        definition = known.fields.get(code)
        if definition is None:
            problems.add(f"fields.{code}", f"no custom field '{code}' in this tenant")
        elif value is not None and definition.options and value not in definition.options:
            problems.add(f"fields.{code}", f"'{value}' is not one of {', '.join(definition.options)}")
    problems.raise_any()


def automation_using_stages(known: TenantAutomation, pipeline_id: str, stage_ids: set[str]) -> dict[str, str]:
    """Automation (id → stage) that would dangle if ``stage_ids`` left ``pipeline_id``."""
    using: dict[str, str] = {}
    for automation in known.by_id.values():
        places = []
        if not isinstance(automation, BusinessProcess):
            places.append((automation.pipeline_id, automation.stage_id))
        if isinstance(automation, Tunnel):
            places.append((automation.target_pipeline_id, automation.target_stage_id))
        if isinstance(automation, Rule):
            for action in automation.actions:
                if action.kind == "move_to_stage":
                    places.append((automation.pipeline_id, action.stage_id))
                elif action.kind in ("copy_to_pipeline", "move_to_pipeline"):
                    places.append((action.pipeline_id, action.stage_id))
        for place_pipeline, stage_id in places:
            if place_pipeline == pipeline_id and stage_id in stage_ids:
                using[automation.id] = stage_id
    return using
