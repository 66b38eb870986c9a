"""``POST /deals/{deal_id}/runs``: start a business process by hand on one deal or lead, with its
parameters (``dealflow.engine.manual_runs``). Any role that may read and change the item's entity
may start it; the process itself was checked against its author's rights when it was saved."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.errors import Invalid, NotFound
from dealflow.api.rights import access
from dealflow.engine.manual_runs import REQUEST_ID_PATTERN, ManualStartRefused, start_by_hand
from dealflow.http_errors import Unavailable
from dealflow.model.base import Id, Model


class ManualStartRequest(Model):
    """Which process to start and with what; ``request_id`` names this start."""

    process_id: Id = Field(description="A business process that starts by hand (`start_on` has `manual`)")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Values of the process's declared parameters, by name (a missing one takes its default)",
    )
    request_id: str | None = Field(
        default=None,
        pattern=REQUEST_ID_PATTERN,
        description="Your name for this start: the same one again starts nothing new. Without it, a start "
        "of the same process with the same parameters on the deal as it stands (same version) is the same start",
    )


class ManualStartAnswer(Model):
    run_id: str
    started: bool = Field(description="false: this start was already made; `run_id` is the run it started")
    deal_id: Id
    process_id: Id
    run: str = Field(description="The run's entry in the run log (`GET /runs/{run_id}`), there once it has begun")


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.post(
        "/deals/<deal_id>/runs",
        summary="Start a business process by hand on a deal or lead, with its parameters",
        tags=["deals"],
        description="The process must be switched on and start by hand (`manual`), for the item's entity "
        "and pipeline. Parameters are checked against the ones it declares: a 422 names each one missing, "
        "unknown or of the wrong type (`parameters.days`). 202: the run is started (or, for a start made "
        "before, was); follow `run`.",
        status_code=202,
        responses={202: {"description": "Started (or started before, when `started` is false)"}},
    )
    def start_run(deal_id: str, start: ManualStartRequest) -> Response[ManualStartAnswer]:
        d, who = deps(), caller(r)
        item = d.deals.get(who.tenant_id, deal_id)
        if item is None:
            raise NotFound("deal", deal_id)
        tenant = known(d, who)
        may = access(tenant, who, item.entity)
        may.require_read()
        may.require_write(())
        if d.starter is None:
            raise Unavailable("runs cannot be started here (no runner is configured)")
        try:
            started = start_by_hand(d.starter, tenant, item, start.process_id, start.parameters, start.request_id)
        except LookupError:
            raise Invalid.field("process_id", f"no business process '{start.process_id}' in this tenant") from None
        except ManualStartRefused as exc:
            raise Invalid(exc.problems) from None
        link = f"/runs/{started.run_id}"
        answer = ManualStartAnswer(
            run_id=started.run_id, started=started.started, deal_id=item.id, process_id=start.process_id, run=link
        )
        return Response(202, content_types.APPLICATION_JSON, answer, headers={"Location": link})

    return r
