"""Pipelines and their stages: list, read, create or replace (administrators)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.context import DepsProvider, caller, known, same_id
from dealflow.api.errors import Invalid, NotFound
from dealflow.api.references import automation_using_stages
from dealflow.api.schemas import PipelineList
from dealflow.model import Pipeline


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get("/pipelines", summary="List pipelines", tags=["pipelines"])
    def list_pipelines() -> PipelineList:
        found = known(deps(), caller(r)).pipelines
        return PipelineList(items=sorted(found.values(), key=lambda p: p.id))

    @r.get("/pipelines/<pipeline_id>", summary="Get a pipeline", tags=["pipelines"])
    def get_pipeline(pipeline_id: str) -> Pipeline:
        found = known(deps(), caller(r)).pipelines.get(pipeline_id)
        if found is None:
            raise NotFound("pipeline", pipeline_id)
        return found

    @r.put("/pipelines/<pipeline_id>", summary="Create or replace a pipeline (administrators)", tags=["pipelines"])
    def put_pipeline(pipeline_id: str, pipeline: Pipeline) -> Pipeline:
        same_id(pipeline_id, pipeline.id)
        d, who = deps(), caller(r)
        tenant = known(d, who)
        current = tenant.pipelines.get(pipeline_id)
        if current is not None:
            if current.entity != pipeline.entity:
                raise Invalid.field("entity", f"pipeline '{pipeline_id}' holds {current.entity}s; it cannot change")
            removed = {s.id for s in current.stages} - {s.id for s in pipeline.stages}
            dangling = automation_using_stages(tenant, pipeline_id, removed)
            if dangling:
                raise Invalid.field("stages", "stages still used by automation: " + ", ".join(
                    f"'{stage}' by '{automation_id}'" for automation_id, stage in sorted(dangling.items())))
        d.automation.put_definition(who.tenant_id, pipeline)
        return pipeline

    return r
