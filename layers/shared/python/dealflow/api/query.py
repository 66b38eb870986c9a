"""Query parameters a route does not declare are refused, not ignored: ``GET /automation?pipeline_id=x``
must not quietly answer every pipeline's automation. Each route declares its parameters in its
signature (``Annotated[..., Query()]``), which is also what the OpenAPI document lists; one check,
run for every route, compares the request with that declaration."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Route
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.types import EventHandlerInstance

from dealflow.http_errors import BadRequest


class UnknownParameter(BadRequest):
    """400 {"error": "unknown_parameter", "reason", "problems": [{"field", "problem"}]}."""

    error = "unknown_parameter"


def declared_query(route: Route) -> list[str]:
    """The query parameters ``route`` takes, as callers spell them."""
    return [param.alias for param in route.dependant.query_params]


def refuse_unknown_query(app: EventHandlerInstance, next_middleware: NextMiddleware) -> Response:
    """Middleware: a 400 naming every query parameter the matched route does not take."""
    route: Route = app.context["_route"]
    sent = app.current_event.resolved_query_string_parameters or {}
    if route.include_in_schema and sent:
        known = declared_query(route)
        unknown = sorted(set(sent) - set(known))
        if unknown:
            takes = f"it takes {', '.join(known)}" if known else "it takes none"
            where = f"{route.method} {route.openapi_path}"
            raise UnknownParameter(
                f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for {where}; {takes}",
                problems=[{"field": name, "problem": f"not a query parameter of {where}; {takes}"} for name in unknown],
            )
    return next_middleware(app)
