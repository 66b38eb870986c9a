"""A deal's sales-process steps: mark one done or undone (any role of the tenant), and the check
every person's deal write passes through: steps named exist in the deal's pipeline, a filled
workflow field marks its step in the same write, a marked workflow step needs its field filled."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.errors import Conflict, Invalid, NotFound
from dealflow.api.rights import access
from dealflow.engine import field_steps
from dealflow.engine.compiled import TenantAutomation
from dealflow.model import Deal
from dealflow.model.access import ItemView
from dealflow.model.base import Model


class StepMark(Model):
    done: bool = Field(description="true marks the step done, false undoes it")
    version: int | None = Field(default=None, ge=1, description="When given, a write since this version is a 409")


def settle_steps(
    before: Deal | None, after: Deal, tenant: TenantAutomation, marks: dict[str, bool], user_id: str
) -> Deal:
    """``after`` (a person's write of ``before``; None when creating) with the steps they mark and
    those their filled workflow fields call for. Raises Invalid naming each unknown step and each
    field a marked step needs filled first: nothing is written then."""
    pipeline = tenant.pipelines.get(after.pipeline_id)
    unknown = [s for s in marks if pipeline is None or pipeline.step(s) is None]
    if unknown:
        raise Invalid(
            [{"field": f"steps.{s}", "problem": f"no step '{s}' in pipeline '{after.pipeline_id}'"} for s in unknown]
        )
    after = field_steps.mark_filled(before, field_steps.mark(after, marks, user_id), tenant)
    problems = field_steps.missing_fields(before, after, tenant)
    if problems:
        raise Invalid(problems)
    return after


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.post(
        "/deals/<deal_id>/steps/<step_id>",
        tags=["deals"],
        summary="Mark a step of the deal's pipeline done or undone (404 unknown step, 409 stale version)",
        description="A step a field–step workflow links to a field can be marked only when the field is "
        "filled (422 naming the field).",
    )
    def mark_step(deal_id: str, step_id: str, request: StepMark) -> ItemView:
        d, who = deps(), caller(r)
        current = d.deals.get(who.tenant_id, deal_id)
        if current is None:
            raise NotFound("deal", deal_id)
        tenant = known(d, who)
        may = access(tenant, who, current.entity)
        may.require_write([])  # the role may change this entity at all
        pipeline = tenant.pipelines.get(current.pipeline_id)
        if pipeline is None or pipeline.step(step_id) is None:
            raise NotFound("step", step_id, where=f"in pipeline '{current.pipeline_id}'")
        if request.version is not None and request.version != current.version:
            raise Conflict(
                f"deal '{deal_id}' is at version {current.version}, not {request.version}: read it again",
                current_version=current.version,
            )
        changed = settle_steps(current, current, tenant, {step_id: request.done}, who.user_id)
        if changed.steps == current.steps:
            return may.view(current)  # already as asked: nothing to write
        return may.view(d.deals.save(changed))  # a write since it was read: StaleDeal, a 409

    return r
