"""The run log over HTTP: ``GET /runs`` pages through real runs (or, with ``test=true``, the test
runs test mode kept), newest first, narrowed by automation, deal and status; ``GET /runs/{run_id}``
reads one. Any role may read it. A page ends with an opaque ``next_token`` for the next one."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from dealflow.api.context import DepsProvider, caller
from dealflow.api.errors import NotFound
from dealflow.api.paging import MAX_TOKEN, PAGED, PARAMETER, BadPageToken, seal, unseal
from dealflow.api.schemas import RunPage
from dealflow.model import RunRecord
from dealflow.model.base import Id
from dealflow.model.run import RunStatus
from dealflow.store.runs import BadStartKey

MAX_PAGE = 100


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/runs",
        summary="The run log, newest first",
        tags=["runs"],
        description="Real runs, or with `test=true` the runs test mode kept. Narrowed by automation, "
        "deal and status; give `next_token` back for the next page, with the same filters (a token this "
        "list did not give out is a 400).",
        responses=PAGED,
    )
    def list_runs(
        test: Annotated[bool, Query(description="Test runs instead of real ones")] = False,
        automation_id: Annotated[Id | None, Query(description="Only runs of this automation")] = None,
        deal_id: Annotated[Id | None, Query(description="Only runs on this deal or lead")] = None,
        status: Annotated[RunStatus | None, Query(description="Only runs that ended (or stand) so")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Runs per page at most")] = 50,
        next_token: Annotated[str | None, Query(max_length=MAX_TOKEN, description="From the previous page")] = None,
    ) -> RunPage:
        d, tenant_id = deps(), caller(r).tenant_id
        filters = {"test": test, "automation_id": automation_id, "deal_id": deal_id, "status": status}
        start = unseal(d.page_keys, "runs", tenant_id, filters, next_token) if next_token is not None else None
        try:
            items, last = d.runs.page(
                tenant_id,
                test=test,
                deal_id=deal_id,
                automation_id=automation_id,
                status=status,
                limit=limit,
                start=start,
            )
        except BadStartKey as exc:
            raise BadPageToken.field(PARAMETER, f"{exc}: start again without it") from None
        token = seal(d.page_keys, "runs", tenant_id, filters, last) if last is not None else None
        return RunPage(items=items, next_token=token)

    @r.get("/runs/<run_id>", summary="One run, real or test", tags=["runs"])
    def get_run(run_id: str) -> RunRecord:
        d, tenant_id = deps(), caller(r).tenant_id
        found = d.runs.get(tenant_id, run_id) or d.runs.get(tenant_id, run_id, test=True)
        if found is None:
            raise NotFound("run", run_id)
        return found

    return r
