"""Automation of every kind — rules, tunnels, triggers, business processes — as one resource,
``/automation/{id}``, its kind named by ``kind`` in the body: list and search, read, create or
replace, delete, switch on and off, test mode, run log. Changes are for administrators."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from dealflow.api.cancellations import answer, cancel_waiting
from dealflow.api.context import CREATED_OR_REPLACED, Caller, DepsProvider, caller, known, same_id
from dealflow.api.definitions import VERSION_RULE, VersionMessage, check_version, note_of, unchanged
from dealflow.api.deps import Deps
from dealflow.api.errors import Invalid, NotFound
from dealflow.api.rights import check_automation_author
from dealflow.api.runs import readable_runs
from dealflow.api.schemas import AutomationList, Deleted, DryRunRequest, RunList, Switched
from dealflow.api.usage import within_plan
from dealflow.api.warnings import AutomationWritten, loop_of, reported
from dealflow.authoring.checks import AutomationBody, check_automation, check_deal
from dealflow.authoring.moves import Selection, select
from dealflow.engine.testmode import run_test
from dealflow.model import Deal, RunRecord, parse_item
from dealflow.model.base import Id
from dealflow.model.catalog import Automation, AutomationKind
from dealflow.model.versions import VersionNote

MAX_SEARCH = 200


def save_automation(d: Deps, who: Caller, automation: Automation, note: VersionNote) -> tuple[Automation, bool]:
    """Check ``automation`` as a save does and store it as its next version (a PUT, a rollback, a
    publish): the caller becomes its owner (told when its runs fail). The stored automation comes
    back, and whether it was new; sending what is stored changes nothing."""
    automation = automation.model_copy(update={"owner_id": who.user_id})
    tenant = known(d, who)
    check_automation(automation, tenant)
    check_automation_author(automation, tenant, who)
    current = tenant.by_id.get(automation.id)
    if current is not None and current.kind != automation.kind:
        raise Invalid.field(
            "kind",
            f"automation '{automation.id}' is a {current.kind}; "
            f"delete it before storing a {automation.kind} under its id",
        )
    if current is not None and unchanged(current, automation):
        return current, False
    check_version(f"automation '{automation.id}'", current, automation.version)
    held = within_plan(tenant, automation)
    stored = automation.model_copy(update={"version": automation.version + 1}) if current else automation
    d.automation.put_definition(
        who.tenant_id, stored, current.version if current else None, automation_version=held, note=note
    )
    return stored, current is None


def test_deal(d: Deps, who: Caller, request: DryRunRequest) -> Deal:
    """The deal a test-mode run is on: a stored one (404 when missing) or the one described, checked
    as a deal write is."""
    if request.deal_id is not None:
        deal = d.deals.get(who.tenant_id, request.deal_id)
        if deal is None:
            raise NotFound("deal", request.deal_id)
        return deal
    assert request.deal is not None
    held = check_deal(known(d, who), responsible_id=request.deal.responsible_id, fields=request.deal.fields)
    body = {**request.deal.model_dump(exclude_none=True), "fields": held}
    return parse_item({**body, "id": body.get("id") or "test-deal", "tenant_id": who.tenant_id})


def router(deps: DepsProvider) -> Router:
    r = Router()

    def require(automation_id: str) -> Automation:
        found = known(deps(), caller(r)).by_id.get(automation_id)
        if found is None:
            raise NotFound("automation", automation_id)
        return found

    @r.get(
        "/automation",
        summary="List or search automation",
        tags=["automation"],
        description="Every given filter must hold; without filters, all of the tenant's automation in id "
        "order. `pipeline_id` and `stage_id` are where a rule, tunnel or trigger sits (a tunnel's source) "
        "or a business process's pipeline; `entity` follows the pipeline (a process names its own). "
        "Filters may name pipelines and stages that no longer exist, to find the automation still "
        "pointing at them.",
    )
    def list_automation(
        q: Annotated[str | None, Query(max_length=MAX_SEARCH, description="Part of the name or id, any case")] = None,
        kind: Annotated[AutomationKind | None, Query(description="Only this kind")] = None,
        pipeline_id: Annotated[Id | None, Query(description="Only automation on this pipeline")] = None,
        stage_id: Annotated[Id | None, Query(description="Only automation on this stage")] = None,
        entity: Annotated[
            Literal["deal", "lead"] | None, Query(description="Only automation on deals, or on leads")
        ] = None,
        enabled: Annotated[bool | None, Query(description="true: only switched on; false: only switched off")] = None,
        broken: Annotated[
            bool | None,
            Query(description="true: only automation with broken references (see /warnings); false: only intact"),
        ] = None,
    ) -> AutomationList:
        tenant = known(deps(), caller(r))
        found = select(tenant, Selection(kind=kind, q=q, pipeline_id=pipeline_id, stage_id=stage_id, entity=entity))
        return AutomationList(
            items=[
                a
                for a in found
                if (enabled is None or a.enabled == enabled) and (broken is None or (a.id in tenant.warnings) == broken)
            ]
        )

    @r.get("/automation/<automation_id>", summary="Get one automation", tags=["automation"])
    def get_automation(automation_id: str) -> Automation:
        return require(automation_id)

    @r.put(
        "/automation/<automation_id>",
        tags=["automation"],
        summary="Create or replace automation (administrators)",
        description=VERSION_RULE + " "
        "The caller becomes its `owner_id` (told by `notify_on_failure`). "
        "Pipelines, stages, fields and users it names must exist in the tenant. When it is "
        "enabled, `loop_warning` names enabled automation it can start in a circle. "
        "201 when it was created, 200 when replaced; 403 plan_limit past the plan.",
        responses=CREATED_OR_REPLACED,
    )
    def put_automation(
        automation_id: str,
        automation: Annotated[AutomationBody, Body()],
        message: VersionMessage = None,
    ) -> Response[AutomationWritten]:
        same_id(automation_id, automation.id)
        d, who = deps(), caller(r)
        stored, created = save_automation(d, who, automation, note_of(who, message))
        return Response(201 if created else 200, content_types.APPLICATION_JSON, reported(known(d, who), stored))

    @r.delete(
        "/automation/<automation_id>",
        summary="Delete automation (administrators)",
        tags=["automation"],
        description="Its waiting runs are cancelled (see `cancellation`; `Location` is the job's link); its run "
        "log stays.",
    )
    def delete_automation(automation_id: str) -> Response[Deleted]:
        current = require(automation_id)
        d, who = deps(), caller(r)
        d.automation.delete_definition(who.tenant_id, current)
        stopped, job = cancel_waiting(d, who, [automation_id], "the automation was deleted")
        return answer(Deleted(id=automation_id, cancelled_runs=stopped, cancellation=job), job)

    def switch(automation_id: str, enabled: bool) -> Response[Switched]:
        current = require(automation_id)
        d, who = deps(), caller(r)
        stored = current.model_copy(update={"enabled": enabled, "version": current.version + 1})
        held = within_plan(known(d, who), stored) if enabled else None
        note = note_of(who, "switched on" if enabled else "switched off")
        d.automation.put_definition(who.tenant_id, stored, current.version, automation_version=held, note=note)
        stopped, job = cancel_waiting(d, who, [] if enabled else [automation_id], "the automation was switched off")
        after = known(d, who)
        switched = Switched(
            automation=stored,
            cancelled_runs=stopped,
            cancellation=job,
            warnings=after.warnings.get(automation_id, []),
            loop_warning=loop_of(after, automation_id),
        )
        return answer(switched, job)

    @r.post("/automation/<automation_id>/enable", summary="Switch automation on (administrators)", tags=["automation"])
    def enable(automation_id: str) -> Response[Switched]:
        return switch(automation_id, True)

    @r.post(
        "/automation/<automation_id>/disable",
        tags=["automation"],
        summary="Switch automation off (administrators); its waiting runs are cancelled",
        description="The first few waiting runs are stopped within the request (`cancelled_runs`); more are left "
        "to a job (`cancellation`, its link also in `Location`).",
    )
    def disable(automation_id: str) -> Response[Switched]:
        return switch(automation_id, False)

    @r.post(
        "/automation/<automation_id>/test",
        tags=["automation"],
        summary="Test mode (administrators): run it now on a stored deal or a described one",
        description="Nothing is sent or written; the step-by-step log comes back and is kept as a test run.",
    )
    def test(automation_id: str, request: DryRunRequest) -> RunRecord:
        automation = require(automation_id)
        d, who = deps(), caller(r)
        return run_test(automation, test_deal(d, who, request), d.services())

    @r.get("/automation/<automation_id>/runs", summary="Runs of one automation, newest first", tags=["automation"])
    def automation_runs(automation_id: str) -> RunList:
        require(automation_id)
        d, who = deps(), caller(r)
        runs = d.runs.for_automation(who.tenant_id, automation_id)
        return RunList(items=readable_runs(known(d, who), who, runs))

    return r
