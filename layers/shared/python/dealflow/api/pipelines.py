"""Pipelines and their stages: list, read, create or replace, delete (administrators).

Removing a stage or a pipeline that automation uses is allowed: that automation is flagged with
warnings and skipped (the response names it). Removing one that still holds deals or leads is a
409: items are never orphaned."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.context import CREATED_OR_REPLACED, Caller, DepsProvider, caller, known, same_id
from dealflow.api.definitions import VERSION_RULE, VersionMessage, note_of, write_versioned, written
from dealflow.api.deps import Deps
from dealflow.api.errors import Conflict, Invalid, NotFound
from dealflow.api.schemas import DefinitionDeleted, PipelineList, PipelineWritten
from dealflow.api.warnings import broken_since
from dealflow.model import FieldDefinition, Pipeline
from dealflow.model.versions import VersionNote


def _still_holding(d: Deps, tenant_id: str, pipeline: Pipeline, stage_ids: set[str]) -> None:
    """409 when any of ``stage_ids`` of ``pipeline`` still holds items, naming how many."""
    counts = d.deals.count_by_stage(tenant_id, pipeline.id)
    held = {stage: n for stage, n in sorted(counts.items()) if stage in stage_ids and n}
    if held:
        total = sum(held.values())
        raise Conflict(
            f"pipeline '{pipeline.id}' still holds {total} {pipeline.entity}(s): "
            + ", ".join(f"{n} in stage '{stage}'" for stage, n in held.items())
            + "; move them first",
            items=total,
        )


def save_pipeline(d: Deps, who: Caller, pipeline: Pipeline, note: VersionNote) -> Pipeline | FieldDefinition:
    """Store ``pipeline`` as its next version (a PUT, a rollback): its entity stays; stages it
    removes must hold nothing."""
    current = known(d, who).pipelines.get(pipeline.id)
    if current is not None:
        if current.entity != pipeline.entity:
            raise Invalid.field("entity", f"pipeline '{pipeline.id}' holds {current.entity}s; it cannot change")
        if current.version == pipeline.version:  # a stale write is a 409 below, whatever it removes
            removed = {s.id for s in current.stages} - {s.id for s in pipeline.stages}
            _still_holding(d, who.tenant_id, current, removed)
    return write_versioned(d, who.tenant_id, f"pipeline '{pipeline.id}'", current, pipeline, note)


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get("/pipelines", summary="List pipelines", tags=["pipelines"])
    def list_pipelines() -> PipelineList:
        found = known(deps(), caller(r)).pipelines
        return PipelineList(items=sorted(found.values(), key=lambda p: p.id))

    def require(pipeline_id: str) -> Pipeline:
        found = known(deps(), caller(r)).pipelines.get(pipeline_id)
        if found is None:
            raise NotFound("pipeline", pipeline_id)
        return found

    @r.get("/pipelines/<pipeline_id>", summary="Get a pipeline", tags=["pipelines"])
    def get_pipeline(pipeline_id: str) -> Pipeline:
        return require(pipeline_id)

    @r.put(
        "/pipelines/<pipeline_id>",
        tags=["pipelines"],
        summary="Create (201) or replace (200) a pipeline (administrators)",
        description=VERSION_RULE + " "
        "Removed stages must hold no deals (409); automation using them is flagged and "
        "listed in `broken_automation`.",
        responses=CREATED_OR_REPLACED,
    )
    def put_pipeline(pipeline_id: str, pipeline: Pipeline, message: VersionMessage = None) -> Response[PipelineWritten]:
        same_id(pipeline_id, pipeline.id)
        d, who = deps(), caller(r)
        before = known(d, who)
        created = pipeline_id not in before.pipelines
        stored = save_pipeline(d, who, pipeline, note_of(who, message))
        return written(before, known(d, who), stored, PipelineWritten, created=created)

    @r.delete(
        "/pipelines/<pipeline_id>",
        summary="Delete a pipeline that holds no deals (administrators)",
        tags=["pipelines"],
        description="Automation using it is flagged and listed in `broken_automation`.",
    )
    def delete_pipeline(pipeline_id: str) -> DefinitionDeleted:
        current = require(pipeline_id)
        d, who = deps(), caller(r)
        before = known(d, who)
        _still_holding(d, who.tenant_id, current, {s.id for s in current.stages})
        d.automation.delete_definition(who.tenant_id, current)
        return DefinitionDeleted(deleted=pipeline_id, broken_automation=broken_since(before, known(d, who)))

    return r
