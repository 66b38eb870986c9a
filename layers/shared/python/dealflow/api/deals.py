"""Deals and leads: create, read, update (optimistic locking on ``version``), move to a stage,
their run log. Any role of the tenant, within its column-level rights (``dealflow.policy.access``): every
item comes back as the role may see it, and a write of a field it may not write is a 403."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.errors import Conflict, NotFound
from dealflow.api.rights import access
from dealflow.api.runs import readable_runs
from dealflow.api.schemas import DealUpdate, NewDeal, RunList, StageMove
from dealflow.api.steps import settle_steps
from dealflow.authoring.checks import check_deal
from dealflow.model import Deal, parse_item
from dealflow.model.access import ItemView
from dealflow.policy.access import fields_set
from dealflow.ports import StaleDeal


def router(deps: DepsProvider) -> Router:
    r = Router()

    def require(deal_id: str) -> Deal:
        found = deps().deals.get(caller(r).tenant_id, deal_id)
        if found is None:
            raise NotFound("deal", deal_id)
        return found

    @r.post("/deals", summary="Create a deal or lead", tags=["deals"], status_code=201)
    def create_deal(deal: NewDeal) -> ItemView:
        d, who = deps(), caller(r)
        tenant = known(d, who)
        may = access(tenant, who, deal.entity)
        may.require_write(fields_set(deal))
        held = check_deal(
            tenant,
            place=(deal.entity, deal.pipeline_id, deal.stage_id),
            responsible_id=deal.responsible_id,
            fields=deal.fields,
        )
        body = {**deal.model_dump(exclude_none=True), "fields": held}
        item = parse_item({**body, "id": deal.id or f"d-{uuid.uuid4().hex[:16]}", "tenant_id": who.tenant_id})
        item = settle_steps(None, item, tenant, {}, who.user_id)
        try:
            return may.view(d.deals.create(item))
        except StaleDeal:
            raise Conflict(f"deal '{item.id}' already exists", id=item.id) from None

    @r.get("/deals/<deal_id>", summary="Get a deal or lead", tags=["deals"])
    def get_deal(deal_id: str) -> ItemView:
        found = require(deal_id)
        may = access(known(deps(), caller(r)), caller(r), found.entity)
        may.require_read()
        return may.view(found)

    @r.patch("/deals/<deal_id>", summary="Change a deal's fields (409 when written since `version`)", tags=["deals"])
    def update_deal(deal_id: str, update: DealUpdate) -> ItemView:
        current = require(deal_id)
        d, who = deps(), caller(r)
        tenant = known(d, who)
        may = access(tenant, who, current.entity)
        may.require_write(fields_set(update))
        held = check_deal(tenant, responsible_id=update.responsible_id, fields=update.fields)
        changes: dict[str, Any] = update.model_dump(exclude_unset=True, exclude={"version", "fields", "steps"})
        merged = {**current.fields, **held}
        changes["fields"] = {k: v for k, v in merged.items() if v is not None}
        return may.view(
            _save(
                d.deals,
                current,
                update.version,
                changes,
                lambda changed: settle_steps(current, changed, tenant, update.steps, who.user_id),
            )
        )

    @r.post("/deals/<deal_id>/move", summary="Move a deal to a stage (of its pipeline, or another one)", tags=["deals"])
    def move_deal(deal_id: str, move: StageMove) -> ItemView:
        current = require(deal_id)
        d, who = deps(), caller(r)
        tenant = known(d, who)
        may = access(tenant, who, current.entity)
        may.require_write(["stage_id", *(["pipeline_id"] if move.pipeline_id else [])])
        pipeline_id = move.pipeline_id or current.pipeline_id
        check_deal(tenant, place=(current.entity, pipeline_id, move.stage_id))
        version = move.version if move.version is not None else current.version
        return may.view(_save(d.deals, current, version, {"pipeline_id": pipeline_id, "stage_id": move.stage_id}))

    @r.get("/deals/<deal_id>/runs", summary="Runs on one deal, newest first", tags=["deals"])
    def deal_runs(deal_id: str) -> RunList:
        d, who = deps(), caller(r)
        tenant, entity = known(d, who), require(deal_id).entity
        access(tenant, who, entity).require_read()
        return RunList(items=readable_runs(tenant, who, d.runs.for_deal(who.tenant_id, deal_id), entity))

    return r


def _save(
    store: Any, current: Deal, version: int, changes: dict[str, Any], settle: Callable[[Deal], Deal] = lambda deal: deal
) -> Deal:
    if version != current.version:
        raise Conflict(
            f"deal '{current.id}' is at version {current.version}, not {version}: read it again",
            current_version=current.version,
        )
    changed = settle(type(current).model_validate({**current.model_dump(), **changes}))
    try:
        return store.save(changed)
    except StaleDeal as exc:
        raise Conflict(str(exc)) from None
