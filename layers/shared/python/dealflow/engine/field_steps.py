"""Field–step workflows at work: which field counts as filled, which steps a change marks done,
which marks need a field filled first, and what a workflow whose field or step is gone warns.

Both the API's write path and the dispatcher use these, so a person's PATCH and an automation's
``update_fields`` mark the same steps the same way. A workflow that is switched off, or whose
field, pipeline or step no longer exists, does nothing in either direction.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from dealflow.clock import now_iso
from dealflow.engine.changes import DealChange
from dealflow.engine.compiled import MAX_DEPTH, TenantAutomation
from dealflow.engine.references import workflow_warnings
from dealflow.model import Causation, Deal, FieldDefinition, FieldKind
from dealflow.model.deal import StepDone
from dealflow.model.workflow import FieldStepWorkflow
from dealflow.ports import DealStore


def is_filled(definition: FieldDefinition, value: Any) -> bool:
    """Whether a field holds something: 0 is a number like any other, a blank text is not text."""
    if value is None:
        return False
    match definition.kind:
        case FieldKind.CHECKBOX:
            return value is True
        case FieldKind.NUMBER:
            return True
        case FieldKind.DATE:
            return isinstance(value, date) or bool(str(value).strip())
        case _:  # text, list, user: a value set
            return bool(str(value).strip())


def working(known: TenantAutomation, pipeline_id: str) -> list[FieldStepWorkflow]:
    """The workflows that act on deals of a pipeline: switched on, nothing they use deleted."""
    return [
        w
        for w in known.workflows.values()
        if w.enabled and w.pipeline_id == pipeline_id and not workflow_warnings(w, known.pipelines, known.fields)
    ]


def reference_problems(workflow: FieldStepWorkflow, known: TenantAutomation) -> list[dict[str, str]]:
    """What a workflow names that the tenant lacks: its field, its pipeline, the step in it."""
    problems = []
    if workflow.field_code not in known.fields:
        problems.append({"field": "field_code", "problem": f"no custom field '{workflow.field_code}' in this tenant"})
    pipeline = known.pipelines.get(workflow.pipeline_id)
    if pipeline is None:
        problems.append({"field": "pipeline_id", "problem": f"no pipeline '{workflow.pipeline_id}' in this tenant"})
    elif pipeline.step(workflow.step_id) is None:
        problems.append(
            {"field": "step_id", "problem": f"no step '{workflow.step_id}' in pipeline '{workflow.pipeline_id}'"}
        )
    return problems


def used_by(workflow: FieldStepWorkflow, known: TenantAutomation) -> tuple[str, FieldStepWorkflow] | None:
    """Another workflow (on or off) already using this one's field or step: each is used once."""
    for other in sorted(known.workflows.values(), key=lambda w: w.id):
        if other.id == workflow.id:
            continue
        if other.field_code == workflow.field_code:
            return f"field '{workflow.field_code}'", other
        if (other.pipeline_id, other.step_id) == (workflow.pipeline_id, workflow.step_id):
            return f"step '{workflow.step_id}'", other
    return None


def mark(deal: Deal, marks: dict[str, bool], by: str) -> Deal:
    """Steps marked done (by a user id or ``workflow:<id>``) or undone. A step already done keeps
    who did it first."""
    steps = dict(deal.steps)
    for step_id, done in marks.items():
        if not done:
            steps.pop(step_id, None)
        elif step_id not in steps:
            steps[step_id] = StepDone(by=by, at=now_iso())
    return deal.model_copy(update={"steps": steps})


def _became_filled(workflow: FieldStepWorkflow, known: TenantAutomation, before: Deal | None, after: Deal) -> bool:
    definition = known.fields[workflow.field_code]
    was = before is not None and is_filled(definition, before.fields.get(workflow.field_code))
    return not was and is_filled(definition, after.fields.get(workflow.field_code))


def filled_marks(before: Deal | None, after: Deal, known: TenantAutomation) -> list[FieldStepWorkflow]:
    """Workflows whose field this change filled while their step is not done yet (direction a).
    Emptying a field never undoes a step."""
    return [
        w
        for w in working(known, after.pipeline_id)
        if w.step_id not in after.steps and _became_filled(w, known, before, after)
    ]


def mark_filled(before: Deal | None, after: Deal, known: TenantAutomation) -> Deal:
    """``after`` with the steps its newly filled workflow fields call for marked done."""
    for workflow in filled_marks(before, after, known):
        after = mark(after, {workflow.step_id: True}, workflow.marker)
    return after


def missing_fields(before: Deal | None, after: Deal, known: TenantAutomation) -> list[dict[str, str]]:
    """Steps newly marked done whose workflow's field is still empty after the change (direction
    b), each as a problem naming the field."""
    newly_done = set(after.steps) - set(before.steps if before else ())
    pipeline = known.pipelines.get(after.pipeline_id)
    problems = []
    for workflow in working(known, after.pipeline_id):
        definition = known.fields[workflow.field_code]
        if workflow.step_id not in newly_done or is_filled(definition, after.fields.get(workflow.field_code)):
            continue
        step = pipeline.step(workflow.step_id) if pipeline else None
        problems.append(
            {
                "field": f"fields.{workflow.field_code}",
                "problem": (
                    f"required: step '{step.name if step else workflow.step_id}' is marked done "
                    f"and field–step workflow '{workflow.id}' needs '{definition.name}' filled"
                ),
            }
        )
    return problems


class StepMarker:
    """The dispatcher's part (direction a, whoever wrote the field: an automation's update_fields,
    an import, a person): the step is marked through ``DealStore.apply`` with an effect key derived
    from the stream record, so a redelivered record never marks twice. The write it makes changes
    only steps, so it never fills a field and cannot feed itself."""

    def __init__(self, deals: DealStore) -> None:
        self._deals = deals

    def __call__(self, change: DealChange, known: TenantAutomation, event_id: str) -> list[str]:
        """Mark what the change calls for; returns the ids of the workflows that marked a step."""
        new = change.new
        if new is None or not known.workflows or change.depth >= MAX_DEPTH:
            return []
        marked = []
        for workflow in filled_marks(change.old, new, known):
            key = f"field-step:{event_id}:{workflow.id}"
            cause = new.caused_by
            causation = Causation(
                run_id=f"field-step-{hashlib.sha256(key.encode()).hexdigest()[:40]}",
                automation_id=workflow.id,
                depth=change.depth + 1,
                chain=[*(cause.chain if cause else []), workflow.id],
            )

            def change_deal(current: Deal, workflow: FieldStepWorkflow = workflow) -> Deal:
                if current.pipeline_id != workflow.pipeline_id:  # moved on meanwhile: not this pipeline's step
                    return current
                return mark(current, {workflow.step_id: True}, workflow.marker)

            _, applied = self._deals.apply(new.tenant_id, new.id, change_deal, causation, key)
            if applied:
                marked.append(workflow.id)
        return marked
