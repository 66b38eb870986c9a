"""The management API's OpenAPI document, generated from the code.

    python -m dealflow.api.openapi > openapi.json

regenerates the copy committed at the repository root (a test fails while they differ). The API
serves the same document (``GET /openapi.json``) and Swagger UI; this module loads with the first
of them, with every router (``api.routes``)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TypedDict

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme
from pydantic.json_schema import models_json_schema

from dealflow.api.bodies import YAML_TYPES
from dealflow.api.links import document_links
from dealflow.api.paths import document_path_parameters
from dealflow.authoring.transfer import Document
from dealflow.http_errors import MAX_DEPTH
from dealflow.model.bounds import MAX_TEXT, NUMBER_RULE

if TYPE_CHECKING:
    from dealflow.api.resolver import ApiResolver

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


def openapi_document(app: ApiResolver) -> dict[str, Any]:
    """The document powertools generates, told the whole truth: the error bodies this API really
    sends (its 422 is ``{"error": "validation", "problems": [...]}``, not powertools' ``{"detail":
    [...]}``), every 4xx each operation can answer, path parameters' patterns, and the YAML the
    transfer routes serve and take."""
    app.routers.load_every()
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


def _no_deps() -> Any:
    raise RuntimeError("generating the document reads no storage")


def document() -> dict[str, Any]:
    from dealflow.api.resolver import build_resolver

    return openapi_document(build_resolver(_no_deps))


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
