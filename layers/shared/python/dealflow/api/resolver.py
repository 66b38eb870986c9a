"""The management API's resolver: one powertools ``APIGatewayHttpResolver`` with request and
response validation, a Router per resource, and every failure turned into a JSON 4xx that names
the field, the id or the reason (see ``dealflow.api.errors``). Only what nobody foresaw is a 500.

Routers are included as requests need them (``api.routes``): a cold start loads no router, no
model and no store; the OpenAPI document and Swagger UI load every router."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from dealflow.api.auth import authorize, caller_of, is_public
from dealflow.api.bodies import MAX_BODY, an_object_or_nothing
from dealflow.api.errors import (
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    MalformedJson,
    PayloadTooLarge,
    PlanLimit,
    problems_from,
)
from dealflow.api.paths import check_path
from dealflow.api.query import refuse_unknown_query
from dealflow.api.routes import Routers

if TYPE_CHECKING:
    from dealflow.api.context import DepsProvider

logger = Logger(child=True)
SWAGGER = "/swagger"


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


class ApiResolver(APIGatewayHttpResolver):
    """Decides who calls, and whether they may, before a route reads the body: a missing claim is
    a 401 and a sales rep changing automation a 403 whatever the body says. Includes the router
    a request's route belongs to before matching it (``api.routes``)."""

    def __init__(self, deps: DepsProvider) -> None:
        # Validation is on for every route; its middlewares (pydantic and powertools' OpenAPI
        # machinery) are built by the first request (``_validating``), not at a cold start.
        super().__init__(enable_validation=False)
        self._enable_validation = True
        self.routers = Routers(self, deps, self._compile_regex)
        self._swagger = False

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        http = (event.get("requestContext") or {}).get("http") or {}
        path, method = event.get("rawPath") or http.get("path") or "/", http.get("method") or "GET"
        if not is_public(path):
            try:
                who = caller_of(event)
                authorize(method, path, who)
                if len(event.get("body") or "") > MAX_BODY * (4 / 3 if event.get("isBase64Encoded") else 1):
                    raise PayloadTooLarge(f"the body is over {MAX_BODY} bytes")
                an_object_or_nothing(event)
            except ApiError as exc:
                logger.warning("request refused", extra={"status": exc.status, "reason": exc.reason, "path": path})
                return {
                    "statusCode": exc.status,
                    "headers": {"Content-Type": content_types.APPLICATION_JSON},
                    "body": json.dumps(exc.body()),
                    "isBase64Encoded": False,
                }
            self.append_context(caller=who)
        return super().resolve(event, context)

    def _resolve(self) -> ResponseBuilder:
        # The method and path as powertools matches them (after the stage is taken off the path).
        method, path = self.current_event.http_method.upper(), self._remove_prefix(self.current_event.path)
        self._validating()
        if method == "GET" and path == SWAGGER:
            self.enable_swagger_ui()
        self.routers.load_for(method, path)
        return super()._resolve()

    def _validating(self) -> None:
        """The validation middlewares, built as powertools' ``__init__`` builds them with
        ``enable_validation=True`` (its routes would build them too, but with another serializer)."""
        if hasattr(self, "_request_validation_middleware"):
            return
        from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
            OpenAPIRequestValidationMiddleware,
            OpenAPIResponseValidationMiddleware,
        )

        self._request_validation_middleware = OpenAPIRequestValidationMiddleware()
        self._response_validation_middleware = OpenAPIResponseValidationMiddleware(
            validation_serializer=None, has_response_validation_error=self._has_response_validation_error
        )

    def enable_swagger_ui(self) -> None:
        """Swagger UI with its JavaScript and CSS inline (bundled with powertools): no CDN needed.
        Registered with its first request: it describes every router, and its OpenAPI models
        cost a cold start more than all the rest of the resolver."""
        if self._swagger:
            return
        from dealflow.api.openapi import OPENAPI

        self.routers.load_every()
        self.enable_swagger(path=SWAGGER, **OPENAPI)
        self._swagger = True


# What a route's code may raise besides ApiError, answered as below. Named by module and class,
# so that none of these modules is imported to register them: an exception of one of these
# classes can only be raised once its module is loaded (pydantic, a store, the plans).
_REFUSALS: tuple[tuple[str, str, Callable[[Any], Response]], ...] = (
    ("pydantic", "ValidationError", lambda exc: _json(422, Invalid(problems_from(exc.errors())).body())),
    ("dealflow.ports", "StaleDeal", lambda exc: _json(409, Conflict(str(exc)).body())),
    (
        "dealflow.store.automation",
        "StaleDefinition",
        lambda exc: _json(409, Conflict(f"not written: {exc}; read it again").body()),
    ),
    ("dealflow.policy.plans", "PlanExceeded", lambda exc: _json(403, PlanLimit(exc.reason, **exc.details).body())),
    (
        "dealflow.store.automation",
        "UnknownTenant",
        lambda exc: _json(403, Forbidden(f"{exc}: the token's tenant is not set up").body()),
    ),
)


def _refusal(exc: Exception) -> Response | None:
    """The answer ``_REFUSALS`` gives ``exc``: the first of its classes, most specific first, that
    has one (as powertools looks up its exception handlers)."""
    answers = {}
    for module, name, answer in _REFUSALS:
        loaded = sys.modules.get(module)
        if loaded is not None:
            answers[getattr(loaded, name)] = answer
    found = next((answers[cls] for cls in type(exc).__mro__ if cls in answers), None)
    return found(exc) if found is not None else None


def build_resolver(deps: DepsProvider) -> ApiResolver:
    app = ApiResolver(deps)
    app.use(middlewares=[check_path, refuse_unknown_query])

    # No return annotation: powertools would try to build a schema for Response (left out anyway).
    @app.get("/openapi.json", include_in_schema=False)
    def serve_openapi():
        from dealflow.api.openapi import openapi_document

        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document(app))

    @app.exception_handler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return _json(exc.status, exc.body())

    @app.exception_handler(RequestValidationError)
    def request_invalid(exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = next(e for e in errors if e.get("type") == "json_invalid")
            reason = (detail.get("ctx") or {}).get("error") or "not JSON"
            return _json(400, MalformedJson(f"the body is not valid JSON: {reason}").body())
        return _json(422, Invalid(problems_from(errors)).body())

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        refused = _refusal(exc)
        if refused is not None:
            return refused
        # Not bad input (that is a 4xx above): a bug or AWS trouble. Logged in full, answered in JSON.
        logger.exception("request failed", extra={"path": app.current_event.path})
        return _json(500, {"error": "internal", "reason": "the request failed on our side; it was logged"})

    @app.not_found
    def not_found(_exc: Exception) -> Response:
        event = app.current_event
        return _json(404, {"error": "not_found", "reason": f"no route {event.http_method} {event.path}"})

    return app
