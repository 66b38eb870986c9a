"""HTTP refusals shared by the management API and the webhook receiver: each one a status, a
machine-readable ``error`` and a reason for a person, always answered as JSON."""

from __future__ import annotations

from collections.abc import Sequence
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
