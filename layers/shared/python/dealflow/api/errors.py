"""What the management API answers when it cannot do what was asked: always JSON, always a 4xx
for bad input, each naming the field, the id or the reason.

    401 {"error": "unauthorized", "reason": ...}        no usable claims from the JWT authorizer
    403 {"error": "forbidden", "reason": ...}           the caller's role may not do this
    403 {"error": "plan_limit", "reason": ...}          the tenant's plan does not allow it
    404 {"error": "not_found", "id": ..., "reason": ...} no such item in the caller's tenant
    409 {"error": "conflict", "reason": ...}            written since the version the caller read
    422 {"error": "validation", "problems": [{"field": ..., "problem": ...}]}
    400 {"error": "malformed_json", "reason": ...}      the body is not JSON
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dealflow.http_errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    Invalid,
    PayloadTooLarge,
    Unauthorized,
)
from dealflow.http_errors import NotFound as HttpNotFound

ApiError = HttpError


class MalformedJson(BadRequest):
    status, error = 400, "malformed_json"


class PlanLimit(Forbidden):
    """403 {"error": "plan_limit", "reason", ...}: the tenant's plan does not allow it (too much
    automation switched on: ``limit`` and ``active``; a kind it lacks: ``kind`` and ``plan``)."""

    error = "plan_limit"


class NotFound(HttpNotFound):
    def __init__(self, what: str, item_id: str) -> None:
        super().__init__(f"no {what} '{item_id}' in this tenant", id=item_id)


# pydantic puts the tag of a discriminated union into an error's location ("rule", "send_email",
# "clause"); a person wants the field path as they wrote it, so the tags are dropped.
_TAGS = frozenset(
    {
        "rule",
        "tunnel",
        "trigger",
        "business_process",
        "send_email",
        "notify",
        "update_fields",
        "move_to_stage",
        "copy_to_pipeline",
        "move_to_pipeline",
        "create_task",
        "create_workgroup",
        "action",
        "condition",
        "loop",
        "delay",
        "set_variable",
        "clause",
        "all",
        "any",
        "deal",
        "lead",
    }
)
_UNION_FIELDS = frozenset({"condition", "while", "action", "deal"})  # a field holding one union value
_UNION_LISTS = frozenset({"actions", "nodes", "otherwise", "all", "any"})  # a list of union values
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
_PREFIXED = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.DOTALL)


def field_path(loc: Iterable[Any]) -> list[str]:
    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    kept: list[str] = []
    for i, part in enumerate(parts):
        prev = parts[i - 1] if i > 0 else None
        before = parts[i - 2] if i > 1 else None
        in_union = prev is None or prev in _UNION_FIELDS or (isinstance(prev, int) and before in _UNION_LISTS)
        if isinstance(part, str) and part in _TAGS and in_union and i + 1 < len(parts):
            continue
        if isinstance(part, str) and part.startswith("function-after["):
            continue
        kept.append(str(part))
    return kept


def problems_from(errors: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """pydantic / powertools validation errors as ``{"field", "problem"}`` pairs."""
    problems = []
    for error in errors:
        path = field_path(error.get("loc", ()))
        message = str(error.get("msg") or error.get("type") or "invalid")
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        prefixed = _PREFIXED.match(message)
        if prefixed:
            named, message = prefixed.groups()
            if not path or path[-1] != named.split(".")[-1]:
                path.append(named)
        if error.get("type") in ("union_tag_not_found", "union_tag_invalid"):
            tag = str((error.get("ctx") or {}).get("discriminator") or "kind").strip("'\"")
            path.append(tag)
            if error.get("type") == "union_tag_not_found":
                message = f"required: one of the kinds this body can be ({tag})"
        if error.get("type") == "missing" and not message:
            message = "required"
        problems.append({"field": ".".join(path) or "body", "problem": message})
    return problems


__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "Invalid",
    "MalformedJson",
    "NotFound",
    "PayloadTooLarge",
    "PlanLimit",
    "Unauthorized",
    "field_path",
    "problems_from",
]
