"""Cancellation jobs over HTTP: switching automation off or deleting it requests one
(``cancel_waiting``), and ``GET /cancellations/{job_id}`` follows it. Any role of the tenant may
read a job, as any role may read the run log; another tenant's job is not there (404)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.auth import Caller
from dealflow.api.context import DepsProvider, caller
from dealflow.api.deps import Deps
from dealflow.api.errors import NotFound
from dealflow.api.schemas import Cancellation
from dealflow.model.base import Model

M = TypeVar("M", bound=Model)


def cancel_waiting(
    d: Deps, who: Caller, automation_ids: Sequence[str], reason: str
) -> tuple[list[str], Cancellation | None]:
    """Request the cancellation of the automation's waiting runs: the runs stopped within this
    request, and the job (None where no runner is configured, so nothing can be stopped)."""
    if d.cancellations is None or not automation_ids:
        return [], None
    d.settle()
    job, stopped = d.cancellations.request(who.tenant_id, reason, who.user_id, automation_ids=automation_ids)
    return stopped, Cancellation.of(job)


def answer(body: M, cancellation: Cancellation | None) -> Response[M]:
    """``body`` with the job's link in ``Location`` too, as a started run's answer has it."""
    headers = {"Location": cancellation.link} if cancellation is not None else None
    return Response(200, content_types.APPLICATION_JSON, body, headers=headers)


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/cancellations/<job_id>",
        summary="Follow the cancellation of waiting runs",
        tags=["runs"],
        description="Switching automation off or deleting it (one at a time, in bulk or by an import), and "
        "deleting a deal, cancel their waiting runs as a job: how many were found, stopped, had already ended "
        "or could not be stopped, and whether a worker is still at it.",
    )
    def get_cancellation(job_id: str) -> Cancellation:
        d, who = deps(), caller(r)
        job = d.cancellations.jobs.get(who.tenant_id, job_id) if d.cancellations is not None else None
        if job is None:
            raise NotFound("cancellation", job_id)
        return Cancellation.of(job)

    return r
