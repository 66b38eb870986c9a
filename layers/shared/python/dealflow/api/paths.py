"""What a path parameter may look like, by its name, for every route: ids as the model's ``Id``,
custom field codes, constant and variable names, run ids. One table serves both the check (a
value that could never name anything is a 422 naming the parameter, before any lookup) and the
OpenAPI document (each parameter's ``pattern``), so the two cannot drift apart. A route added
later with one of these names gets both."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Route
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.types import EventHandlerInstance

from dealflow.http_errors import Invalid

_ID = {"pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", "minLength": 1, "maxLength": 64}
_ID_RULE = "an id: a letter or digit, then letters, digits, '_', '.', ':' or '-'; at most 64"

# name → (JSON schema of the value, the rule in words)
PATH_PARAMETERS: dict[str, tuple[dict[str, Any], str]] = {
    **{
        name: (_ID, _ID_RULE)
        for name in (
            "automation_id",
            "deal_id",
            "pipeline_id",
            "workflow_id",
            "step_id",
            "process_id",
            "stage_id",
            "test_id",
            "user_id",
        )
    },
    "code": (
        {"pattern": r"^[a-z][a-z0-9_]*$", "minLength": 1, "maxLength": 64},
        "a field code: a lowercase letter, then lowercase letters, digits or '_'; at most 64",
    ),
    "name": (
        {"pattern": r"^[a-z][a-z0-9_]{0,63}$", "minLength": 1, "maxLength": 64},
        "a name: a lowercase letter, then up to 63 lowercase letters, digits or underscores",
    ),
    "run_id": (
        {"pattern": r"^[A-Za-z0-9_-]{1,64}$", "minLength": 1, "maxLength": 64},
        "a run id: up to 64 letters, digits, '_' or '-'",
    ),
}
_COMPILED = {name: re.compile(schema["pattern"]) for name, (schema, _) in PATH_PARAMETERS.items()}


def path_problems(values: dict[str, str]) -> list[dict[str, str]]:
    """The path parameters in ``values`` that do not fit their pattern, each named."""
    problems = []
    for name, value in values.items():
        pattern = _COMPILED.get(name)
        if pattern is not None and (len(value) > 64 or not pattern.match(value)):
            shown = value if len(value) <= 70 else value[:67] + "..."
            problems.append({"field": name, "problem": f"'{shown}' is not {PATH_PARAMETERS[name][1]}"})
    return problems


def check_path(app: EventHandlerInstance, next_middleware: NextMiddleware) -> Response:
    """Middleware: a 422 naming each path parameter that could never name anything."""
    route: Route = app.context["_route"]
    args = app.context.get("_route_args") or {}
    names = [param.alias for param in route.dependant.path_params] if route.include_in_schema else []
    problems = path_problems({name: str(args[name]) for name in names if args.get(name) is not None})
    if problems:
        raise Invalid(problems)
    return next_middleware(app)


def document_path_parameters(document: dict[str, Any]) -> None:
    """Each path parameter of the OpenAPI ``document`` given its pattern and length bounds."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                found = PATH_PARAMETERS.get(parameter.get("name", ""))
                if parameter.get("in") == "path" and found is not None and parameter["schema"].get("type") == "string":
                    parameter["schema"].update(found[0])
