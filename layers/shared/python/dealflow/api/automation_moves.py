"""Copy and move automation to another stage, pipeline or entity, one at a time or in bulk, and
switch or delete it in bulk. Every result is checked like a PUT (references against the target
pipeline) before anything is written; a bulk request is written as one transaction or not at all.
Administrators only (everything under /automation is)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ValidationError

from dealflow.api.cancellations import answer, cancel_waiting
from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.definitions import note_of
from dealflow.api.errors import Conflict, Invalid, NotFound
from dealflow.api.schemas import AutomationCopy, AutomationMove, BulkRequest, BulkResult, Cancellation
from dealflow.authoring.checks import check_automation
from dealflow.authoring.moves import Changes, Target, copy_id, retarget, select, write_changes
from dealflow.engine.compiled import TenantAutomation
from dealflow.http_errors import problems_from
from dealflow.model.catalog import AUTOMATION_MODELS, Automation
from dealflow.ports import MAX_WRITES


def _placed(
    original: Automation, target: Target, tenant: TenantAutomation, prefix: str, **changes: object
) -> tuple[Automation | None, list[dict[str, str]]]:
    """``original`` at ``target`` with ``changes``, or the problems that keep it from being stored there."""
    try:
        placed = retarget(original, target, tenant, **changes)
        check_automation(placed, tenant)
    except (Invalid, ValidationError) as exc:
        return None, problems_from(exc, prefix)
    return placed, []


def _one(original: Automation, target: Target, tenant: TenantAutomation, **changes: object) -> Automation:
    placed, problems = _placed(original, target, tenant, "", **changes)
    if placed is None:
        raise Invalid(problems)
    return placed


def router(deps: DepsProvider) -> Router:
    r = Router()

    def require(tenant: TenantAutomation, automation_id: str) -> Automation:
        found = tenant.by_id.get(automation_id)
        if found is None:
            raise NotFound("automation", automation_id)
        return found

    @r.post(
        "/automation/<automation_id>/copy",
        tags=["automation"],
        summary="Copy automation to a stage, pipeline or entity (administrators)",
        description="201 with the copy at version 1. Its references are checked against the target: "
        "a stage move to a stage the target pipeline lacks is a 422 naming the field.",
        status_code=201,
        response_description="The copy",
    )
    def copy_automation(automation_id: str, request: AutomationCopy) -> Automation:
        d, who = deps(), caller(r)
        tenant = known(d, who)
        original = require(tenant, automation_id)
        new_id = request.id or copy_id(original.id, tenant.by_id)
        if new_id in tenant.by_id:
            raise Conflict(f"automation '{new_id}' already exists: choose another id", id=new_id)
        target = Target(pipeline_id=request.pipeline_id, stage_id=request.stage_id, entity=request.entity)
        enabled = original.enabled if request.enabled is None else request.enabled
        copied = _one(
            original, target, tenant, id=new_id, version=1, name=request.name or original.name, enabled=enabled
        )
        write_changes(d.automation, who.tenant_id, tenant, Changes(created=[copied]), note=note_of(who, "copy"))
        return copied

    @r.post(
        "/automation/<automation_id>/move",
        tags=["automation"],
        summary="Move automation to another stage, pipeline or entity (administrators)",
        description="The moved automation, one version up; a write since `version` is a 409.",
    )
    def move_automation(automation_id: str, request: AutomationMove) -> Automation:
        d, who = deps(), caller(r)
        tenant = known(d, who)
        original = require(tenant, automation_id)
        if request.version is not None and request.version != original.version:
            raise Conflict(
                f"automation '{automation_id}' is at version {original.version}, not {request.version}: read it again",
                current_version=original.version,
            )
        target = Target(pipeline_id=request.pipeline_id, stage_id=request.stage_id, entity=request.entity)
        moved = _one(original, target, tenant, version=original.version + 1)
        write_changes(
            d.automation,
            who.tenant_id,
            tenant,
            Changes(replaced=[(moved, original.version)]),
            note=note_of(who, "move"),
        )
        return moved

    @r.post(
        "/automation/bulk",
        tags=["automation"],
        summary="Copy, move, switch on or off, or delete many automations at once (administrators)",
        description=f"All or nothing: every item is checked first (problems name `items.<id>.<field>`), "
        f"then one transaction writes them. At most {MAX_WRITES} per request. Switching off "
        f"or deleting cancels waiting runs: one job for all of them (`cancellation`, its link also in `Location`).",
    )
    def bulk(request: BulkRequest) -> Response[BulkResult]:
        d, who = deps(), caller(r)
        tenant = known(d, who)
        chosen = _chosen(request, tenant)
        changes, problems = Changes(), []
        taken = set(tenant.by_id)
        target = request.target or Target()
        for item in chosen:
            placed: Automation | None = None
            found: list[dict[str, str]] = []
            if request.operation == "copy":
                new_id = copy_id(item.id, taken)
                taken.add(new_id)
                placed, found = _placed(item, target, tenant, f"items.{item.id}", id=new_id, version=1)
                changes.created += [placed] if placed else []
            elif request.operation == "move":
                placed, found = _placed(item, target, tenant, f"items.{item.id}", version=item.version + 1)
            elif request.operation == "delete":
                changes.deleted.append((item, item.version))
            elif item.enabled != (request.operation == "enable"):
                placed = item.model_copy(update={"enabled": request.operation == "enable", "version": item.version + 1})
            if placed is not None and request.operation != "copy":
                changes.replaced.append((placed, item.version))
            problems += found
        if problems:
            raise Invalid(problems)
        write_changes(d.automation, who.tenant_id, tenant, changes, note=note_of(who, "bulk change"))
        # Changes holds definitions of every kind; a bulk request only ever puts automation in it.
        deleted = [a for a, _ in changes.deleted if isinstance(a, AUTOMATION_MODELS)]
        cancelled: list[str] = []
        job: Cancellation | None = None
        if request.operation in ("disable", "delete"):
            reason = f"the automation was {'deleted' if request.operation == 'delete' else 'switched off'}"
            stopped = [a for a, _ in changes.replaced if isinstance(a, AUTOMATION_MODELS)] + deleted
            cancelled, job = cancel_waiting(d, who, [a.id for a in stopped], reason)
        result = BulkResult(
            operation=request.operation,
            changed=[*changes.created, *(a for a, _ in changes.replaced)],
            deleted=[a.id for a in deleted],
            cancelled_runs=cancelled,
            cancellation=job,
        )
        return answer(result, job)

    return r


def _chosen(request: BulkRequest, tenant: TenantAutomation) -> list[Automation]:
    if request.ids is not None:
        missing = [
            {"field": f"ids.{i}", "problem": f"no automation '{automation_id}' in this tenant"}
            for i, automation_id in enumerate(request.ids)
            if automation_id not in tenant.by_id
        ]
        if missing:
            raise Invalid(missing)
        chosen = [tenant.by_id[automation_id] for automation_id in dict.fromkeys(request.ids)]
    else:
        assert request.select is not None
        chosen = select(tenant, request.select)
    if len(chosen) > MAX_WRITES:
        raise Invalid.field(
            "ids",
            f"{len(chosen)} automations chosen; at most {MAX_WRITES} per request "
            f"(one transaction): narrow the selection",
        )
    return chosen
