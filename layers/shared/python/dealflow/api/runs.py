"""The run log over HTTP: ``GET /runs`` pages through real runs (or, with ``test=true``, the test
runs test mode kept), newest first, narrowed by automation, deal, status, start time, reason and
whether another run retried it — ``status=failed`` is the failed-run inbox, ``status=waiting`` the
runs that wait; ``GET /runs/{run_id}`` reads one (retrying, cancelling, resuming: ``run_actions``).
Any role may read it, each run as the role may see it (``policy.run_view``: values of
fields hidden from the role read "(hidden)"). A page ends with an opaque ``next_token`` for the
next one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from dealflow.api.auth import Caller
from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.errors import NotFound
from dealflow.api.paging import MAX_TOKEN, PAGED, PARAMETER, BadPageToken, seal, unseal
from dealflow.api.rights import access
from dealflow.api.schemas import RunPage
from dealflow.engine.compiled import TenantAutomation
from dealflow.model import RunRecord
from dealflow.model.base import Id
from dealflow.model.run import RunStatus
from dealflow.policy.access import automation_entity
from dealflow.policy.run_view import run_view
from dealflow.store.runs import BadStartKey

MAX_PAGE = 100
REASON = (
    "Only runs whose reason contains this text, as written (case counts): a reason code such as "
    "`time limit`, `unknown user`, a step's name such as `action-2-notify`"
)


def started_since(moment: datetime | None) -> str | None:
    """``moment`` as the run log writes ``started_at`` (UTC, milliseconds), so the two compare as text."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds")


def readable_runs(
    tenant: TenantAutomation, who: Caller, runs: list[RunRecord], entity: str | None = None
) -> list[RunRecord]:
    """``runs`` as the caller's role may see them. ``entity``: the one the runs are on, when known
    (a deal's runs); otherwise each run's automation says it, and when it no longer exists the
    stricter of the deal and lead rights applies."""
    both = [access(tenant, who, "deal"), access(tenant, who, "lead")]
    shown = []
    for run in runs:
        automation = tenant.by_id.get(run.automation_id)
        on = entity or (automation_entity(automation, tenant.pipelines) if automation is not None else None)
        shown.append(run_view(run, [access(tenant, who, on)] if on else both, automation))
    return shown


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/runs",
        summary="The run log, newest first",
        tags=["runs"],
        description="Real runs, or with `test=true` the runs test mode kept. Narrowed by automation, "
        "deal, status (`failed`: the failed-run inbox; `waiting`: runs that wait), start time, reason and "
        "whether the run was retried; each page reads a bounded part of the log. Give `next_token` back "
        " for the next page, with the same filters (a token this "
        "list did not give out is a 400).",
        responses=PAGED,
    )
    def list_runs(
        test: Annotated[bool, Query(description="Test runs instead of real ones")] = False,
        automation_id: Annotated[Id | None, Query(description="Only runs of this automation")] = None,
        deal_id: Annotated[Id | None, Query(description="Only runs on this deal or lead")] = None,
        status: Annotated[RunStatus | None, Query(description="Only runs that ended (or stand) so")] = None,
        since: Annotated[datetime | None, Query(description="Only runs started at or after this moment")] = None,
        reason: Annotated[str | None, Query(min_length=1, max_length=200, description=REASON)] = None,
        retried: Annotated[
            bool | None, Query(description="Only runs another run retried (true) or not (false)")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Runs per page at most")] = 50,
        next_token: Annotated[str | None, Query(max_length=MAX_TOKEN, description="From the previous page")] = None,
    ) -> RunPage:
        d, tenant_id = deps(), caller(r).tenant_id
        filters: dict[str, Any] = {"test": test, "automation_id": automation_id, "deal_id": deal_id, "status": status}
        filters |= {
            k: v
            for k, v in (("since", started_since(since)), ("reason", reason), ("retried", retried))
            if v is not None
        }
        start = unseal(d.page_keys, "runs", tenant_id, filters, next_token) if next_token is not None else None
        try:
            items, last = d.runs.page(tenant_id, limit=limit, start=start, **filters)
        except BadStartKey as exc:
            raise BadPageToken.field(PARAMETER, f"{exc}: start again without it") from None
        token = seal(d.page_keys, "runs", tenant_id, filters, last) if last is not None else None
        return RunPage(items=readable_runs(known(d, caller(r)), caller(r), items), next_token=token)

    @r.get("/runs/<run_id>", summary="One run, real or test", tags=["runs"])
    def get_run(run_id: str) -> RunRecord:
        d, tenant_id = deps(), caller(r).tenant_id
        found = d.runs.get(tenant_id, run_id) or d.runs.get(tenant_id, run_id, test=True)
        if found is None:
            raise NotFound("run", run_id)
        return readable_runs(known(d, caller(r)), caller(r), [found])[0]

    return r
