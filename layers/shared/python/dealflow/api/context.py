"""What every route starts from: the caller (set by the resolver from the JWT claims) and the
tenant's automation as the container has it compiled (re-read only when its version moved)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from dealflow.api.auth import Caller
from dealflow.api.deps import Deps
from dealflow.api.errors import Invalid, NotFound

if TYPE_CHECKING:
    from dealflow.engine.compiled import TenantAutomation

DepsProvider = Callable[[], Deps]
# A PUT that creates answers 201, one that replaces 200, with the same body (see openapi_document).
CREATED_OR_REPLACED: dict[int, OpenAPIResponse] = {200: {"description": "Replaced"}, 201: {"description": "Created"}}


def caller(router: Router) -> Caller:
    return router.context["caller"]


def known(deps: Deps, who: Caller) -> TenantAutomation:
    return deps.automation.load(who.tenant_id)


def same_id(path_id: str, body_id: str, field: str = "id") -> None:
    if path_id != body_id:
        raise Invalid.field(field, f"'{body_id}' differs from the id in the path ('{path_id}')")


__all__ = ["CREATED_OR_REPLACED", "Caller", "DepsProvider", "NotFound", "caller", "known", "same_id"]
