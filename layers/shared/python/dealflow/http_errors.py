"""HTTP refusals shared by the management API and the webhook receiver: each one a status, a
machine-readable ``error`` and a reason for a person, always answered as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

# pydantic and the model's bounds load with the first refusal or body checked, not with every
# handler that names these errors (the webhooks' cold start: tests/unit/test_cold_imports.py).
if TYPE_CHECKING:
    from pydantic import ValidationError


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
    """404 naming what is missing and its id: ``no deal 'd-1' in this tenant``, the id under ``id``
    (or ``id_key``, where the caller sent it under another name)."""

    status, error = 404, "not_found"

    def __init__(self, what: str, item_id: str, *, where: str = "in this tenant", id_key: str = "id") -> None:
        super().__init__(f"no {what} '{item_id}' {where}", **{id_key: item_id})


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


# pydantic puts the tag of a union value into an error's location ("rule", "send_email", "clause");
# a person wants the field path as they wrote it, so the tags are dropped.
_UNION_FIELDS = frozenset({"condition", "while", "action", "deal", "until"})  # a field holding one union value
# A list of union values.
_UNION_LISTS = frozenset({"actions", "nodes", "otherwise", "all", "any", "fault", "received", "timed_out"})
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
_PREFIXED = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.DOTALL)


def field_path(loc: Iterable[Any]) -> list[str]:
    """An error's location as the caller wrote the field: its source and union tags left out."""
    # The automation models load with the first error reported, not with every function that
    # can report one (the webhooks' cold start).
    from dealflow.model.catalog import AUTOMATION_KINDS, UNION_TAGS

    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    kept: list[str] = []
    after_tag = False
    for i, part in enumerate(parts):
        prev = parts[i - 1] if i > 0 else None
        before = parts[i - 2] if i > 1 else None
        if isinstance(part, str) and part.startswith("function-after["):
            continue
        # A tag stands where a union value does: at the top (a body that is a union; alone there only
        # when it names an automation kind, else it is a field such as ``condition``), in a field
        # holding one, or at an index of a list of them. What follows a tag is always a field.
        where = (
            (prev is None and (i + 1 < len(parts) or part in AUTOMATION_KINDS))
            or prev in _UNION_FIELDS
            or (isinstance(prev, int) and before in _UNION_LISTS)
        )
        if isinstance(part, str) and part in UNION_TAGS and where and not after_tag:
            after_tag = True
            continue
        after_tag = False
        kept.append(str(part))
    return kept


def _named(path: list[str], named: str) -> list[str]:
    """``path`` ending in the field a message names (``to.contact: …`` on ``actions.0.to``)."""
    parts = named.split(".")
    overlap = next((n for n in range(len(parts), 0, -1) if path[-n:] == parts[:n]), 0)
    return path + parts[overlap:]


def problems_from(
    errors: Invalid | ValidationError | Iterable[Mapping[str, Any]], prefix: str = ""
) -> list[dict[str, str]]:
    """The problems of a refusal as ``{"field", "problem"}`` pairs — pydantic's or powertools'
    validation errors, or an Invalid's own problems — each field named under ``prefix`` when one is
    given (``items.lost-email.actions.0.to``)."""
    from pydantic import ValidationError

    if isinstance(errors, Invalid):
        found = errors.problems
    else:
        found = _translated(errors.errors() if isinstance(errors, ValidationError) else errors)
    return [{**p, "field": f"{prefix}.{p['field']}"} for p in found] if prefix else found


def _translated(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    problems = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        # An unknown or missing key ends the location: never a tag, even where one could stand.
        keyed = bool(loc) and error.get("type") in ("extra_forbidden", "missing")
        path = [*field_path(loc[:-1]), str(loc[-1])] if keyed else field_path(loc)
        message = str(error.get("msg") or error.get("type") or "invalid")
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        prefixed = _PREFIXED.match(message)
        if prefixed:
            named, message = prefixed.groups()
            path = _named(path, named)
        if error.get("type") in ("union_tag_not_found", "union_tag_invalid"):
            tag = str((error.get("ctx") or {}).get("discriminator") or "kind").strip("'\"")
            path.append(tag)
            if error.get("type") == "union_tag_not_found":
                message = f"required: one of the kinds this body can be ({tag})"
        if error.get("type") == "missing" and not message:
            message = "required"
        problems.append({"field": ".".join(path) or "body", "problem": message})
    return problems


# ---- reading a JSON body --------------------------------------------------------------------------

# No body the API or the webhook receiver takes nests deeper than a business process does in
# practice; a limit keeps the parser and pydantic far from Python's recursion limit.
MAX_DEPTH = 32
# Deeper than this the text is not parsed at all (the parser itself would recurse too far).
_PARSEABLE_DEPTH = 200
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_MAX_PROBLEMS = 20


class _NonFinite:
    """Where JSON text said NaN or Infinity (Python's parser takes them; JSON has no such numbers)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _depth_of(text: str) -> int:
    deepest = depth = 0
    for bracket in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def read_json(text: str | bytes) -> Any:
    """A request body parsed as JSON within the bounds of what can be stored: ``BadRequest`` when
    it is not JSON or nests deeper than ``MAX_DEPTH`` (its ``problems`` naming where), ``Invalid``
    naming each string or number that no field could hold. Numbers come back as ``Decimal``."""
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        raise BadRequest("the body is not valid JSON: not UTF-8") from None
    depth = _depth_of(decoded)
    if depth > _PARSEABLE_DEPTH:
        raise BadRequest(
            f"the body is nested too deeply: {depth} levels, at most {MAX_DEPTH}",
            problems=[{"field": "body", "problem": f"nested {depth} levels deep; at most {MAX_DEPTH}"}],
        )
    try:
        parsed = json.loads(decoded, parse_float=Decimal, parse_int=Decimal, parse_constant=_NonFinite)
    except RecursionError:
        raise BadRequest(f"the body is nested too deeply: at most {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    check_body(parsed)
    return parsed


def check_body(parsed: Any) -> None:
    """Refuse a parsed body (JSON, or YAML without aliases) that nests deeper than ``MAX_DEPTH``
    (``BadRequest``) or holds a string or number no field could hold (``Invalid``, naming each)."""
    problems = []
    for refusal, field, problem in _problems(parsed, (), 0):
        if refusal:  # not a problem of one field's value but of the body as a whole: a 400
            raise BadRequest(f"{refusal}: {field}: {problem}", problems=[{"field": field, "problem": problem}])
        problems.append({"field": field, "problem": problem})
        if len(problems) == _MAX_PROBLEMS:
            break
    if problems:
        raise Invalid(problems)


def _problems(value: Any, path: tuple[str, ...], depth: int) -> Iterator[tuple[str, str, str]]:
    from dealflow.model.bounds import MAX_KEY, MAX_TEXT, number_problem

    field = ".".join(path) or "body"
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            yield "the body is nested too deeply", field, f"nested deeper than {MAX_DEPTH} levels"
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and len(key) > MAX_KEY:
                yield "", ".".join((*path, key[:40] + "…")), f"a key of {len(key)} characters; at most {MAX_KEY}"
                continue
            yield from _problems(item, (*path, str(key)), depth + 1)
    elif isinstance(value, _NonFinite):
        yield "the body is not valid JSON", field, f"{value.name} is not a JSON number"
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        problem = number_problem(value if isinstance(value, Decimal) else Decimal(str(value)))
        if problem:
            yield "", field, problem
    elif isinstance(value, str) and len(value) > MAX_TEXT:
        yield "", field, f"{len(value)} characters; at most {MAX_TEXT}"
