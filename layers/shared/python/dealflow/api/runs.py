"""The run log over HTTP: ``GET /runs`` pages through real runs (or, with ``test=true``, the test
runs test mode kept), newest first, narrowed by automation, deal and status; ``GET /runs/{run_id}``
reads one. Any role may read it. A page ends with an opaque ``next_token`` for the next one."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from dealflow.api.context import DepsProvider, caller
from dealflow.api.errors import Invalid, NotFound
from dealflow.api.schemas import RunPage
from dealflow.model import RunRecord
from dealflow.model.base import Id
from dealflow.model.run import RunStatus
from dealflow.store.runs import BadStartKey

MAX_PAGE = 100
MAX_TOKEN = 2000


def encode_token(key: dict[str, Any] | None) -> str | None:
    # Opaque to callers, so the index and its keys can change without breaking a client.
    if key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True, default=str).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeError, ValueError):
        raise Invalid.field("next_token", "not a token this list handed out") from None
    if not isinstance(key, dict):
        raise Invalid.field("next_token", "not a token this list handed out")
    return key


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/runs",
        summary="The run log, newest first",
        tags=["runs"],
        description="Real runs, or with `test=true` the runs test mode kept. Narrowed by automation, "
        "deal and status; give `next_token` back for the next page.",
    )
    def list_runs(
        test: Annotated[bool, Query(description="Test runs instead of real ones")] = False,
        automation_id: Annotated[Id | None, Query(description="Only runs of this automation")] = None,
        deal_id: Annotated[Id | None, Query(description="Only runs on this deal or lead")] = None,
        status: Annotated[RunStatus | None, Query(description="Only runs that ended (or stand) so")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Runs per page at most")] = 50,
        next_token: Annotated[str | None, Query(max_length=MAX_TOKEN, description="From the previous page")] = None,
    ) -> RunPage:
        start = decode_token(next_token) if next_token is not None else None
        try:
            items, last = deps().runs.page(
                caller(r).tenant_id,
                test=test,
                deal_id=deal_id,
                automation_id=automation_id,
                status=status,
                limit=limit,
                start=start,
            )
        except BadStartKey as exc:
            raise Invalid.field("next_token", f"{exc}: start again without it") from None
        return RunPage(items=items, next_token=encode_token(last))

    @r.get("/runs/<run_id>", summary="One run, real or test", tags=["runs"])
    def get_run(run_id: str) -> RunRecord:
        d, tenant_id = deps(), caller(r).tenant_id
        found = d.runs.get(tenant_id, run_id) or d.runs.get(tenant_id, run_id, test=True)
        if found is None:
            raise NotFound("run", run_id)
        return found

    return r
