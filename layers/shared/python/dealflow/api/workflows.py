"""Field–step workflows, ``/field-step-workflows/{id}``: list (with the plan's active / limit /
available counts and each one's warnings), read, create or replace, delete, switch on and off.
Changes are for administrators (see ``auth.ADMIN_RESOURCES``)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from dealflow.api.context import DepsProvider, caller, known, same_id
from dealflow.api.definitions import VERSION_RULE, check_version, unchanged
from dealflow.api.errors import Conflict, Invalid, NotFound, PlanLimit
from dealflow.engine import field_steps
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.references import workflow_warnings
from dealflow.model.base import Model
from dealflow.model.workflow import FieldStepWorkflow
from dealflow.policy.plans import field_step_workflow_counts

TAGS = ["field-step workflows"]


class WorkflowView(FieldStepWorkflow):
    """A workflow as stored, with what keeps it from working."""

    warnings: list[str] = Field(
        default_factory=list, description="A field or step it uses no longer exists: it does nothing until fixed"
    )


class WorkflowList(Model):
    items: list[WorkflowView]
    active: int = Field(description="Switched on now")
    limit: int = Field(description="How many the tenant's plan lets be switched on at once")
    available: int = Field(description="How many more may be switched on")


class WorkflowDeleted(Model):
    id: str


def _view(workflow: FieldStepWorkflow, tenant: TenantAutomation) -> WorkflowView:
    return WorkflowView(**workflow.model_dump(), warnings=workflow_warnings(workflow, tenant.pipelines, tenant.fields))


def _check_references(workflow: FieldStepWorkflow, tenant: TenantAutomation) -> None:
    problems = field_steps.reference_problems(workflow, tenant)
    if problems:
        raise Invalid(problems)


def _check_one_use(workflow: FieldStepWorkflow, tenant: TenantAutomation) -> None:
    found = field_steps.used_by(workflow, tenant)
    if found is not None:
        what, other = found
        raise Conflict(f"{what} is used by field–step workflow '{other.id}' ({other.name})", workflow_id=other.id)


def _check_plan(switching_on: bool, tenant: TenantAutomation) -> None:
    counts = field_step_workflow_counts(tenant)
    if switching_on and counts["available"] <= 0:
        raise PlanLimit(
            f"the {tenant.tenant.plan} plan allows {counts['limit']} active field–step "
            f"workflows and {counts['active']} are active; switch one off first",
            limit=counts["limit"],
            active=counts["active"],
        )


def router(deps: DepsProvider) -> Router:
    r = Router()

    def require(workflow_id: str) -> tuple[TenantAutomation, FieldStepWorkflow]:
        tenant = known(deps(), caller(r))
        found = tenant.workflows.get(workflow_id)
        if found is None:
            raise NotFound("field–step workflow", workflow_id)
        return tenant, found

    @r.get("/field-step-workflows", summary="List field–step workflows, with the plan's counts", tags=TAGS)
    def list_workflows() -> WorkflowList:
        tenant = known(deps(), caller(r))
        items = [_view(w, tenant) for w in sorted(tenant.workflows.values(), key=lambda w: w.id)]
        return WorkflowList(items=items, **field_step_workflow_counts(tenant))

    @r.get("/field-step-workflows/<workflow_id>", summary="Get a field–step workflow", tags=TAGS)
    def get_workflow(workflow_id: str) -> WorkflowView:
        tenant, found = require(workflow_id)
        return _view(found, tenant)

    @r.put(
        "/field-step-workflows/<workflow_id>",
        tags=TAGS,
        summary="Create (201) or replace (200) a field–step workflow (administrators)",
        description=VERSION_RULE + " The field "
        "must be a custom field and the step a step of the pipeline (422); each field and each step "
        "serves one workflow only (409 naming it); switching on beyond the plan's cap is a 403 "
        "plan_limit.",
        responses={
            code: {"description": what, "content": {"application/json": {"model": WorkflowView}}}
            for code, what in ((200, "Replaced"), (201, "Created"))
        },
    )
    def put_workflow(workflow_id: str, workflow: FieldStepWorkflow) -> Response[WorkflowView]:
        same_id(workflow_id, workflow.id)
        d, who = deps(), caller(r)
        tenant = known(d, who)
        _check_references(workflow, tenant)
        current = tenant.workflows.get(workflow_id)
        if current is not None and unchanged(current, workflow):
            return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_view(current, tenant))
        check_version(f"field–step workflow '{workflow_id}'", current, workflow.version)
        _check_one_use(workflow, tenant)
        _check_plan(workflow.enabled and not (current is not None and current.enabled), tenant)
        stored = workflow.model_copy(update={"version": workflow.version + 1}) if current else workflow
        d.automation.put_definition(who.tenant_id, stored, current.version if current else None)
        return Response(
            status_code=200 if current else 201, content_type=content_types.APPLICATION_JSON, body=_view(stored, tenant)
        )

    @r.delete(
        "/field-step-workflows/<workflow_id>",
        summary="Delete a field–step workflow (administrators)",
        tags=TAGS,
        description="Steps it marked stay marked.",
    )
    def delete_workflow(workflow_id: str) -> WorkflowDeleted:
        _, current = require(workflow_id)
        deps().automation.delete_definition(caller(r).tenant_id, current)
        return WorkflowDeleted(id=workflow_id)

    def switch(workflow_id: str, enabled: bool) -> WorkflowView:
        tenant, current = require(workflow_id)
        _check_plan(enabled and not current.enabled, tenant)
        stored = current.model_copy(update={"enabled": enabled, "version": current.version + 1})
        deps().automation.put_definition(caller(r).tenant_id, stored, current.version)
        return _view(stored, tenant)

    @r.post(
        "/field-step-workflows/<workflow_id>/enable",
        tags=TAGS,
        summary="Switch a field–step workflow on (administrators; 403 plan_limit beyond the plan's cap)",
    )
    def enable(workflow_id: str) -> WorkflowView:
        return switch(workflow_id, True)

    @r.post(
        "/field-step-workflows/<workflow_id>/disable",
        summary="Switch a field–step workflow off (administrators)",
        tags=TAGS,
    )
    def disable(workflow_id: str) -> WorkflowView:
        return switch(workflow_id, False)

    return r
