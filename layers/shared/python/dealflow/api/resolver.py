"""The management API's resolver: one powertools ``APIGatewayHttpResolver`` with request and
response validation, a Router per resource, and every failure turned into a JSON 4xx that names
the field, the id or the reason (see ``dealflow.api.errors``). Only what nobody foresaw is a 500."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypedDict

import yaml
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema

from dealflow.api import (
    automation,
    automation_moves,
    calendars,
    cancellations,
    console,
    deal_lists,
    deals,
    drafts,
    fields,
    manual_runs,
    pipelines,
    rights,
    run_actions,
    runs,
    saved_tests,
    steps,
    transfer,
    usage,
    values,
    versions,
    warnings,
    what_if,
    workflows,
)
from dealflow.api.auth import authorize, caller_of, is_public
from dealflow.api.context import DepsProvider
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
from dealflow.api.links import document_links
from dealflow.api.paths import check_path, document_path_parameters
from dealflow.api.query import refuse_unknown_query
from dealflow.api.transfer import YAML_TYPES, MalformedYaml
from dealflow.authoring.transfer import Document
from dealflow.http_errors import MAX_DEPTH, BadRequest, check_body, read_json
from dealflow.model.bounds import MAX_TEXT, NUMBER_RULE
from dealflow.policy.plans import PlanExceeded
from dealflow.ports import StaleDeal
from dealflow.store.automation import StaleDefinition, UnknownTenant

logger = Logger(child=True)

TITLE = "Dealflow management API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Pipelines, custom fields, deals and leads, automation of every kind (rules, tunnels, triggers, business "
    "processes, field–step workflows), constants and variables, the run log, the plan's usage, rights, export "
    "and import of one tenant. The tenant, the user and the role come from the JWT (claims `custom:tenant_id`, "
    "`sub`, `custom:role`); only administrators change automation, fields, pipelines, workflows, constants, "
    "variables and rights. Errors are JSON: 401 unauthorized, 403 forbidden (a field one may not write is "
    "named in `field`) or plan_limit, 404 not_found (naming the id), 409 conflict (stale version), "
    "422 validation (`problems`: field and problem), 400 malformed_json or unknown_parameter (naming it), "
    "413 payload_too_large."
)


class OpenApiInfo(TypedDict):
    """What the document and Swagger UI say about the API (keyword arguments of both powertools calls)."""

    title: str
    version: str
    description: str
    security_schemes: dict[str, SecurityScheme]
    security: list[dict[str, list[str]]]


OPENAPI = OpenApiInfo(
    title=TITLE,
    version=VERSION,
    description=DESCRIPTION,
    security_schemes={"jwt": HTTPBearer(bearerFormat="JWT")},
    security=[{"jwt": []}],
)


# DynamoDB items stop at 400 KB; a body that could never be stored is refused before it is parsed.
MAX_BODY = 350_000


_ERROR = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": True,
    "properties": {
        "error": {
            "type": "string",
            "description": "unauthorized, forbidden, plan_limit, not_found, conflict, malformed_json, "
            "malformed_yaml, unknown_parameter, payload_too_large, internal",
        },
        "reason": {"type": "string"},
        "id": {"type": "string", "description": "The id that was not found"},
        "problems": {
            "type": "array",
            "description": "400: each unknown query parameter, or where the body is not JSON or nests too deeply",
            "items": {"$ref": "#/components/schemas/Problem"},
        },
    },
}
_PROBLEM = {
    "type": "object",
    "required": ["field", "problem"],
    "properties": {
        "field": {"type": "string", "description": "Dotted path as sent: actions.0.to.users.1"},
        "problem": {"type": "string"},
    },
}
_PROBLEMS = {
    "title": "ValidationProblems",
    "type": "object",
    "required": ["error", "problems"],
    "properties": {
        "error": {"const": "validation"},
        "reason": {"type": "string"},
        "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
    },
}
_ERROR_RESPONSES = {
    "400": "An unknown query parameter (unknown_parameter), or the body is not JSON (or YAML where taken) or "
    f"nests deeper than {MAX_DEPTH} levels (malformed_json, malformed_yaml); `problems` names each",
    "401": "No usable claims in the token (unauthorized)",
    "403": "The caller's role may not do this, or the token's tenant is not set up (forbidden)",
    "404": "No such item in the caller's tenant (not_found, naming the id)",
    "409": "Written since the version the caller read (conflict)",
    "413": "The body is too big (payload_too_large)",
    "500": "A failure on our side, logged (internal)",
}
_VALIDATION = (
    "A parameter or the body does not fit (validation): every problem names its field. Numbers must fit "
    f"DynamoDB ({NUMBER_RULE}); text is at most {MAX_TEXT} characters"
)
_DOCUMENT = {"$ref": "#/components/schemas/Document"}
_EXPORT_PAGE = {"$ref": "#/components/schemas/ExportPage"}
# What an import takes: the export document, which names its format.
_IMPORTED = {"allOf": [_DOCUMENT], "required": ["format"]}
# Media types beyond JSON that routes serve or take (the export as YAML, an import written in YAML).
_MEDIA: dict[tuple[str, str], dict[str, Any]] = {
    ("/export", "get"): {
        "responses": {"200": {"application/yaml": {"schema": {"$ref": "#/components/schemas/ExportPage"}}}}
    },
    ("/import", "post"): {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": _IMPORTED} for media in ("application/json", *YAML_TYPES)},
        }
    },
}


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The document powertools generates, told the whole truth: the error bodies this API really
    sends (its 422 is ``{"error": "validation", "problems": [...]}``, not powertools' ``{"detail":
    [...]}``), every 4xx each operation can answer, path parameters' patterns, and the YAML the
    transfer routes serve and take."""
    document = json.loads(app.get_openapi_json_schema(**OPENAPI))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["HTTPValidationError"] = _PROBLEMS
    schemas["Error"] = _ERROR
    schemas["Problem"] = _PROBLEM
    # The import takes the export's document, which no route returns whole any more (pages do).
    _, found = models_json_schema([(Document, "validation")], ref_template="#/components/schemas/{model}")
    for name, schema in found.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    document_path_parameters(document)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            answers = operation.setdefault("responses", {})
            if "201" in answers and "content" not in answers["201"] and "content" in answers.get("200", {}):
                answers["201"]["content"] = answers["200"]["content"]  # created: the same body as replaced
            for status, description in _ERROR_RESPONSES.items():
                answers[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            answers["422"] = {
                "description": _VALIDATION,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
            }
            extra = _MEDIA.get((path, method), {})
            for status, media in extra.get("responses", {}).items():
                answers[status].setdefault("content", {}).update(media)
            if "requestBody" in extra:
                operation["requestBody"] = extra["requestBody"]
    document_links(document)
    _close_keyed_objects(document["components"]["schemas"])
    return document


def _close_keyed_objects(schema: Any) -> None:
    """An object whose keys must match a pattern (``dict[Id, bool]``) takes no other keys: pydantic
    refuses them, so the document must not call them valid (JSON schema would, by default)."""
    if isinstance(schema, dict):
        if "patternProperties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            _close_keyed_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            _close_keyed_objects(value)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _an_object_or_nothing(event: Mapping[str, Any]) -> None:
    """Every body the API takes is a JSON object within the bounds of what can be stored (nesting,
    numbers, text: ``read_json``). (powertools would take the first item of a JSON array for an
    object parameter, recurse until Python gives up on a deep one, and let a number too big for
    DynamoDB through to the write.)"""
    if not event.get("body"):
        return
    text = event["body"]
    if event.get("isBase64Encoded"):
        # API Gateway base64-encodes a body that is not UTF-8 text; no JSON is, so it is refused here
        # (powertools would fail decoding it: a 500).
        try:
            text = base64.b64decode(text).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise MalformedJson("the body is not UTF-8 text, so not JSON") from None
    try:
        parsed = _read_yaml(text) if _yaml_body(event) else read_json(text)
    except BadRequest as exc:
        raise (exc if _yaml_body(event) else MalformedJson(exc.reason, **exc.details)) from None
    if not isinstance(parsed, dict):
        raise Invalid.field("body", f"expected a JSON object, got {_JSON_TYPES.get(type(parsed), 'a value')}")


_JSON_TYPES = {list: "an array", str: "a string", Decimal: "a number", bool: "true or false", type(None): "null"}


def _yaml_body(event: Mapping[str, Any]) -> bool:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return str(headers.get("content-type", "")).split(";")[0].strip().lower() in YAML_TYPES


def _read_yaml(text: str) -> Any:
    """A YAML body (``POST /import``) checked as a JSON one is. Its events are read first: an alias
    can make a few bytes a billion nodes, and depth is counted before anything recurses."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise MalformedYaml("the body uses a YAML alias (*name); write the value out instead")
            depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
            if depth > MAX_DEPTH:
                raise MalformedYaml(
                    f"the body is nested too deeply: at most {MAX_DEPTH} levels",
                    problems=[{"field": "body", "problem": f"nested deeper than {MAX_DEPTH} levels"}],
                )
        parsed = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise MalformedYaml(f"the body is not valid YAML: {exc}") from None
    check_body(parsed)
    return parsed


class ApiResolver(APIGatewayHttpResolver):
    """Decides who calls, and whether they may, before a route reads the body: a missing claim is
    a 401 and a sales rep changing automation a 403 whatever the body says."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        http = (event.get("requestContext") or {}).get("http") or {}
        path, method = event.get("rawPath") or http.get("path") or "/", http.get("method") or "GET"
        if not is_public(path):
            try:
                who = caller_of(event)
                authorize(method, path, who)
                if len(event.get("body") or "") > MAX_BODY * (4 / 3 if event.get("isBase64Encoded") else 1):
                    raise PayloadTooLarge(f"the body is over {MAX_BODY} bytes")
                _an_object_or_nothing(event)
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


def build_resolver(deps: DepsProvider) -> ApiResolver:
    app = ApiResolver(enable_validation=True)
    for module in (
        pipelines,
        fields,
        automation,
        automation_moves,
        deals,
        deal_lists,
        manual_runs,
        steps,
        workflows,
        rights,
        warnings,
        usage,
        values,
        runs,
        cancellations,
        run_actions,
        transfer,
        console,
        versions,
        drafts,
        saved_tests,
        calendars,
        what_if,
    ):
        app.include_router(module.router(deps))
    app.use(middlewares=[check_path, refuse_unknown_query])

    # No return annotation: powertools would try to build a schema for Response (left out anyway).
    @app.get("/openapi.json", include_in_schema=False)
    def serve_openapi():
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document(app))

    # Swagger UI with its JavaScript and CSS inline (bundled with powertools): no CDN needed.
    app.enable_swagger(path="/swagger", **OPENAPI)

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

    @app.exception_handler(ValidationError)
    def model_invalid(exc: ValidationError) -> Response:
        return _json(422, Invalid(problems_from(exc.errors())).body())

    @app.exception_handler(StaleDeal)
    def stale_deal(exc: StaleDeal) -> Response:
        return _json(409, Conflict(str(exc)).body())

    @app.exception_handler(StaleDefinition)
    def stale_definition(exc: StaleDefinition) -> Response:
        return _json(409, Conflict(f"not written: {exc}; read it again").body())

    @app.exception_handler(PlanExceeded)
    def plan_exceeded(exc: PlanExceeded) -> Response:
        return _json(403, PlanLimit(exc.reason, **exc.details).body())

    @app.exception_handler(UnknownTenant)
    def unknown_tenant(exc: UnknownTenant) -> Response:
        return _json(403, Forbidden(f"{exc}: the token's tenant is not set up").body())

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        # Not bad input (that is a 4xx above): a bug or AWS trouble. Logged in full, answered in JSON.
        logger.exception("request failed", extra={"path": app.current_event.path})
        return _json(500, {"error": "internal", "reason": "the request failed on our side; it was logged"})

    @app.not_found
    def not_found(_exc: Exception) -> Response:
        event = app.current_event
        return _json(404, {"error": "not_found", "reason": f"no route {event.http_method} {event.path}"})

    return app
