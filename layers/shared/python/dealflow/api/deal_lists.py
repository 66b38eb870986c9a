"""Deal and lead lists: filtered by pipeline, stage, responsible user and a search text, a page at
a time, each item as the caller's role may see it.

``next_token`` is opaque to callers: sealed by ``dealflow.api.paging`` for the tenant and the
filters it was made for, so a token cut, edited, forged or carried over to other filters is a 400,
never a wrong page."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.errors import Invalid
from dealflow.api.paging import MAX_TOKEN, PAGED, seal, unseal
from dealflow.api.rights import access
from dealflow.api.schemas import DealPage
from dealflow.engine.compiled import TenantAutomation
from dealflow.model import Deal
from dealflow.policy.access import AccessDenied
from dealflow.store.deals import MAX_LIST_READS

SEARCHED_FIELDS = ("title", "company")


def _check_places(tenant: TenantAutomation, entity: str, pipeline_id: str | None, stage_id: str | None) -> None:
    problems = []
    pipelines = [p for p in tenant.pipelines.values() if p.entity == entity]
    if pipeline_id is not None:
        pipeline = tenant.pipelines.get(pipeline_id)
        if pipeline is None:
            problems.append({"field": "pipeline_id", "problem": f"no pipeline '{pipeline_id}' in this tenant"})
        elif pipeline.entity != entity:
            problems.append(
                {"field": "pipeline_id", "problem": f"pipeline '{pipeline_id}' holds {pipeline.entity}s, not {entity}s"}
            )
        pipelines = [pipeline] if pipeline is not None else []
    if stage_id is not None and pipelines and not any(p.stage(stage_id) for p in pipelines):
        where = f"pipeline '{pipeline_id}'" if pipeline_id else f"any {entity} pipeline"
        problems.append({"field": "stage_id", "problem": f"no stage '{stage_id}' in {where}"})
    if problems:
        raise Invalid(problems)


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/deals",
        summary="List deals or leads: filtered, a page at a time",
        tags=["deals"],
        description="Items in id order, each without the fields the caller's role may not read (named in "
        "`hidden_fields`). Filtering or searching by a field the role may not read is a 403. One request "
        f"reads at most {MAX_LIST_READS} stored pages (up to 1 MB each), so it answers within API "
        "Gateway's timeout however few items match: a page may then hold fewer items than `limit`, even "
        "none, and still carry a `next_token` (`scanned` says how many stored items it read). "
        "A `next_token` this list did not give out (edited, another tenant's or deployment's, or made "
        "with other filters) is a 400.",
        responses=PAGED,
    )
    def list_deals(
        entity: Annotated[Literal["deal", "lead"], Query(description="Deals or leads")] = "deal",
        pipeline_id: Annotated[str | None, Query(max_length=64)] = None,
        stage_id: Annotated[str | None, Query(max_length=64)] = None,
        responsible_id: Annotated[str | None, Query(max_length=64)] = None,
        q: Annotated[str | None, Query(max_length=200, description="Part of the title or company, any case")] = None,
        limit: Annotated[int, Query(ge=1, le=100, description="Items per page")] = 25,
        next_token: Annotated[str | None, Query(max_length=MAX_TOKEN, description="From the previous page")] = None,
    ) -> DealPage:
        d, who = deps(), caller(r)
        tenant = known(d, who)
        may = access(tenant, who, entity)
        may.require_read()
        equals = {
            k: v
            for k, v in (("pipeline_id", pipeline_id), ("stage_id", stage_id), ("responsible_id", responsible_id))
            if v is not None
        }
        # A filter on a hidden field would reveal its values one guess at a time.
        for name in equals:
            if not may.readable(name):
                raise AccessDenied(f"your role may not read '{name}', so it cannot filter by it", field=name)
        searched = [f for f in SEARCHED_FIELDS if may.readable(f)]
        if q and not searched:
            raise AccessDenied("your role may read neither the title nor the company it would search", field="title")
        _check_places(tenant, entity, pipeline_id, stage_id)
        filters = {"entity": entity, **equals, "q": q or ""}
        after = unseal(d.page_keys, "deals", who.tenant_id, filters, next_token) if next_token else None
        needle = (q or "").casefold()

        def matches(item: Deal) -> bool:
            return any(needle in str(getattr(item, f) or "").casefold() for f in searched)

        page = d.deals.page(
            who.tenant_id, entity=entity, equals=equals, limit=limit, after=after, matches=matches if needle else None
        )
        return DealPage(
            items=[may.view(item) for item in page.items],
            scanned=page.scanned,
            next_token=seal(d.page_keys, "deals", who.tenant_id, filters, page.after) if page.after else None,
        )

    return r
