"""The console: pages a person opens in a browser. ``GET /console/map`` draws the caller's tenant —
pipelines as rows of stages, tunnels as arrows, rules and triggers as badges, broken and looping
automation marked — as a self-contained HTML page (``?format=svg`` the SVG alone, ``mermaid`` the
Mermaid text), for every role: it shows what ``GET /automation`` shows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from dealflow.api.context import DepsProvider, caller, known
from dealflow.authoring.automation_map import automation_map
from dealflow.authoring.map_mermaid import map_mermaid
from dealflow.authoring.map_page import CONTENT_SECURITY_POLICY, map_page
from dealflow.authoring.map_svg import map_svg

MapFormat = Literal["html", "svg", "mermaid"]
_TYPES = {"html": "text/html; charset=utf-8", "svg": "image/svg+xml", "mermaid": "text/plain; charset=utf-8"}


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/console/map",
        tags=["console"],
        summary="The automation map of the tenant: a page, SVG or Mermaid",
        description="Pipelines as rows of stages, tunnels as arrows between stages (copy dashed, move "
        "solid), rules and triggers as badges on their stages, business processes on their pipeline; "
        "automation with a broken reference (⚠) or in a loop (⟳) is outlined in red. `html` (default) "
        "is one page with everything inline — no script, nothing fetched — where hovering shows "
        "details and each automation links to its definition and to `GET /automation/{automation_id}`.",
        responses={
            200: {
                "description": "The map",
                "content": {
                    "text/html": {"schema": {"type": "string"}},
                    "image/svg+xml": {"schema": {"type": "string"}},
                    "text/plain": {"schema": {"type": "string"}},
                },
            }
        },
    )
    def console_map(
        format: Annotated[MapFormat, Query(description="html (default), svg or mermaid")] = "html",
    ) -> Response[Any]:  # Any: text, as the format says
        tenant = known(deps(), caller(r))
        if format == "html":
            # Relative to /console/map, so it holds behind any API Gateway stage or custom domain.
            body = map_page(tenant, api_link=lambda automation_id: f"../automation/{automation_id}")
        elif format == "svg":
            body = map_svg(automation_map(tenant))
        else:
            body = map_mermaid(automation_map(tenant))
        headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"}
        return Response(status_code=200, content_type=_TYPES[format], body=body, headers=headers)

    return r
