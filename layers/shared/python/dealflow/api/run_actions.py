"""What can be done to a run (``dealflow.engine.run_retries``): ``POST /runs/{run_id}/retry`` and
``POST /runs/retry`` (the failed-run inbox, by filter, bounded), ``POST /runs/{run_id}/cancel`` and
``POST /runs/{run_id}/resume`` (waiting runs). A role may do it when it may read and change the
run's items (deals, or leads), as for a start by hand; a run that is not failed (or not waiting) is a
409 saying what it is."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from dealflow.api.auth import Caller
from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.deps import Deps
from dealflow.api.errors import NotFound
from dealflow.api.rights import access
from dealflow.api.runs import REASON, started_since
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.manual_runs import REQUEST_ID_PATTERN
from dealflow.engine.run_retries import (
    Continued,
    RetryFrom,
    RetryVersion,
    RunConflict,
    cancel,
    resume,
    retry,
    retry_many,
)
from dealflow.http_errors import Conflict, Unavailable
from dealflow.model import RunRecord
from dealflow.model.base import Id, Model
from dealflow.policy.access import automation_entity
from dealflow.ports import RunStarter

MAX_BULK = 100

RequestId = Field(
    default=None,
    pattern=REQUEST_ID_PATTERN,
    description="Your name for this request: the same one again starts nothing new and answers as the first time",
)


class RetryRequest(Model):
    start: RetryFrom = Field(
        default="failed_step",
        alias="from",
        description="`failed_step`: the nodes before the one that failed are passed over, the walk starts "
        "there; `start`: the whole walk again. Either way an effect the run already did is not done again",
    )
    version: RetryVersion = Field(
        default="original",
        description="`original`: the automation's version the run walked; `current`: the automation as it is now",
    )
    request_id: str | None = RequestId


class BulkRetryRequest(RetryRequest):
    """Which failed runs to retry: those the failed-run inbox (`GET /runs?status=failed`) lists with
    the same filters, newest first, at most `limit`; runs retried before are left out."""

    automation_id: Id | None = None
    deal_id: Id | None = None
    since: datetime | None = Field(default=None, description="Only runs started at or after this moment")
    reason: str | None = Field(default=None, min_length=1, max_length=200, description=REASON)
    limit: int = Field(default=25, ge=1, le=MAX_BULK, description="Runs retried at most")


class WaitRequest(Model):
    request_id: str | None = RequestId


class ContinuedRun(Model):
    run_id: str = Field(description="The new run, in the run log as `GET /runs/{run_id}` once it has begun")
    retry_of: str = Field(description="The run it retries (or resumes)")
    started: bool = Field(description="false: this request was made before; `run_id` is the run it started")
    start: str = Field(description="`start`, or the node's place in the tree the new run starts at")
    version: int = Field(description="The automation's version the new run walks")


class Skipped(Model):
    run_id: str
    reason: str


class BulkRetryAnswer(Model):
    retried: list[ContinuedRun]
    skipped: list[Skipped] = Field(description="Runs the filter found that were not retried, and why")
    more: bool = Field(description="More failed runs may match: ask again (runs retried now are left out)")


class CancelAnswer(Model):
    run_id: str
    status: Literal["cancelled"]


def _shown(continued: Continued) -> ContinuedRun:
    return ContinuedRun(
        run_id=continued.new_run_id,
        retry_of=continued.run_id,
        started=continued.started,
        start=continued.start,
        version=continued.version,
    )


def _may_change(tenant: TenantAutomation, who: Caller, run: RunRecord) -> None:
    """Refuse (403) a caller whose role may not read and change the run's items."""
    entities: list[str]
    if run.request is not None:
        entities = ["lead" if run.request.target_id else run.request.entity]
    else:
        automation = tenant.by_id.get(run.automation_id)
        found = automation_entity(automation, tenant.pipelines) if automation is not None else None
        entities = [found] if found else ["deal", "lead"]
    for entity in entities:
        may = access(tenant, who, entity)
        may.require_read()
        may.require_write(())


def router(deps: DepsProvider) -> Router:
    r = Router()

    def found(d: Deps, tenant_id: str, run_id: str) -> RunRecord:
        run = d.runs.get(tenant_id, run_id)
        if run is None:
            raise NotFound("run", run_id)
        return run

    def starter(d: Deps) -> RunStarter:
        if d.starter is None:
            raise Unavailable("runs cannot be started or stopped here (no runner is configured)")
        return d.starter

    @r.post(
        "/runs/<run_id>/retry",
        summary="Retry a failed run, without repeating what it did",
        tags=["runs"],
        description="A new run continues the failed one — from the step that failed (default) or from the start, "
        "on the version it ran (default) or the current one. Every effect the failed run did (or started and "
        "could not confirm) is not done again: a retry from the start shows it `duplicate`. The new run's "
        "entry has `retry_of`, the failed one's `retried_by`. 409: the run did not fail, or was retried by "
        "another request.",
        status_code=202,
        responses={202: {"description": "Started (or, for a request made before, was: `started` is false)"}},
    )
    def retry_run(run_id: str, how: RetryRequest) -> Response[ContinuedRun]:
        d, who = deps(), caller(r)
        run, tenant = found(d, who.tenant_id, run_id), known(d, who)
        _may_change(tenant, who, run)
        try:
            continued = retry(
                d.runs, starter(d), run, tenant, start=how.start, version=how.version, request_id=how.request_id
            )
        except RunConflict as exc:
            raise Conflict(str(exc), run_id=run_id, status=run.status) from None
        link = f"/runs/{continued.new_run_id}"
        return Response(202, content_types.APPLICATION_JSON, _shown(continued), headers={"Location": link})

    @r.post(
        "/runs/retry",
        summary="Retry the failed runs a filter finds (at most `limit`)",
        tags=["runs"],
        description="The failed runs `GET /runs?status=failed&retried=false` lists with the same filters, newest "
        "first, each retried as `POST /runs/{run_id}/retry` does; those that cannot be are listed in `skipped` "
        "with the reason. With a `request_id`, asking again answers the same runs and starts nothing new.",
    )
    def retry_runs(how: BulkRetryRequest) -> BulkRetryAnswer:
        d, who = deps(), caller(r)
        tenant = known(d, who)
        done = retry_many(
            d.runs,
            starter(d),
            tenant,
            partial(
                d.runs.page,
                who.tenant_id,
                status="failed",
                automation_id=how.automation_id,
                deal_id=how.deal_id,
                since=started_since(how.since),
                reason=how.reason,
            ),
            how.limit,
            start=how.start,
            version=how.version,
            request_id=how.request_id,
            allowed=partial(_may_change, tenant, who),
        )
        return BulkRetryAnswer(
            retried=[_shown(c) for c in done.retried],
            skipped=[Skipped(run_id=run_id, reason=why) for run_id, why in done.skipped],
            more=done.more,
        )

    @r.post(
        "/runs/<run_id>/cancel",
        summary="Cancel a waiting run",
        tags=["runs"],
        description="Its wait is stopped and nothing after it runs; its entry says `cancelled` and who did it. "
        "409: the run is not waiting.",
    )
    def cancel_run(run_id: str) -> CancelAnswer:
        d, who = deps(), caller(r)
        run = found(d, who.tenant_id, run_id)
        _may_change(known(d, who), who, run)
        try:
            cancel(d.runs, starter(d), run, f"cancelled by {who.user_id}")
        except RunConflict as exc:
            raise Conflict(str(exc), run_id=run_id, status=run.status) from None
        return CancelAnswer(run_id=run_id, status="cancelled")

    @r.post(
        "/runs/<run_id>/resume",
        summary="Resume a waiting run now, as if its wait had ended",
        tags=["runs"],
        description="A durable wait cannot be shortened: the waiting run is stopped (its entry says `cancelled`, "
        "`retried_by` the new run) and a new run continues from its wait, which counts as over — the checks "
        "after the wait run, then the rest. Nothing the waiting run did is done again, and nothing happens "
        "when its old wait would have ended. 409: the run is not waiting.",
        status_code=202,
        responses={202: {"description": "Resumed (or, for a request made before, was: `started` is false)"}},
    )
    def resume_run(run_id: str, how: WaitRequest) -> Response[ContinuedRun]:
        d, who = deps(), caller(r)
        run = found(d, who.tenant_id, run_id)
        _may_change(known(d, who), who, run)
        try:
            continued = resume(d.runs, starter(d), run, how.request_id)
        except RunConflict as exc:
            raise Conflict(str(exc), run_id=run_id, status=run.status) from None
        link = f"/runs/{continued.new_run_id}"
        return Response(202, content_types.APPLICATION_JSON, _shown(continued), headers={"Location": link})

    return r
