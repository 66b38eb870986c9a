"""What the management API answers when it cannot do what was asked: always JSON, always a 4xx
for bad input, each naming the field, the id or the reason.

    401 {"error": "unauthorized", "reason": ...}        no usable claims from the JWT authorizer
    403 {"error": "forbidden", "reason": ...}           the caller's role may not do this
    403 {"error": "plan_limit", "reason": ...}          the tenant's plan does not allow it
    404 {"error": "not_found", "id": ..., "reason": ...} no such item in the caller's tenant
    409 {"error": "conflict", "reason": ...}            written since the version the caller read
    422 {"error": "validation", "problems": [{"field": ..., "problem": ...}]}
    400 {"error": "malformed_json", "reason": ...}      the body is not JSON
    400 {"error": "malformed_yaml", "reason": ...}      the body is not YAML (where YAML is taken)
"""

from __future__ import annotations

from dealflow.http_errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    Invalid,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    field_path,
    problems_from,
)

ApiError = HttpError


class MalformedJson(BadRequest):
    status, error = 400, "malformed_json"


class MalformedYaml(BadRequest):
    status, error = 400, "malformed_yaml"


class PlanLimit(Forbidden):
    """403 {"error": "plan_limit", "reason", ...}: the tenant's plan does not allow it (too much
    automation switched on: ``limit`` and ``active``; a kind it lacks: ``kind`` and ``plan``)."""

    error = "plan_limit"


__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "Invalid",
    "MalformedJson",
    "MalformedYaml",
    "NotFound",
    "PayloadTooLarge",
    "PlanLimit",
    "Unauthorized",
    "field_path",
    "problems_from",
]
