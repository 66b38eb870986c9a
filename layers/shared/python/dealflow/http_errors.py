"""HTTP refusals shared by the management API and the webhook receiver: each one a status, a
machine-readable ``error`` and a reason for a person, always answered as JSON."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any


class HttpError(Exception):
    status = 400
    error = "bad_request"

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "reason": self.reason, **self.details}


class BadRequest(HttpError):
    status, error = 400, "bad_request"


class Unauthorized(HttpError):
    status, error = 401, "unauthorized"


class Forbidden(HttpError):
    status, error = 403, "forbidden"


class NotFound(HttpError):
    status, error = 404, "not_found"


class Conflict(HttpError):
    status, error = 409, "conflict"


class PayloadTooLarge(HttpError):
    status, error = 413, "payload_too_large"


class Invalid(HttpError):
    """422 with every problem found, each naming its field."""

    status, error = 422, "validation"

    def __init__(self, problems: Sequence[dict[str, str]], reason: str | None = None) -> None:
        super().__init__(reason or "; ".join(f"{p['field']}: {p['problem']}" for p in problems))
        self.problems = list(problems)

    @classmethod
    def field(cls, field: str, problem: str) -> Invalid:
        return cls([{"field": field, "problem": problem}])

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "reason": self.reason, "problems": self.problems}


class Unavailable(HttpError):
    """Something on our side failed (AWS throttled us): the caller should retry later."""

    status, error = 503, "unavailable"


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
