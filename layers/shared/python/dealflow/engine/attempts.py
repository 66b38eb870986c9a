"""The tries of an action's step, as the run log keeps them.

A retried step runs again in a later invocation (the durable engine suspends the run for the
back-off), where nothing of the failed try is in memory. So a try that fails writes itself into
the run's record (a step ``attempt failed`` listing the tries so far), and the next try, or the
step that records the action's final failure, reads that list back: one read, and only after a
failure. Writing it is best effort: a run log that cannot be written must not decide the action's
fate (the step's own outcome is what the durable engine keeps).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from dealflow.engine.run_failures import readable
from dealflow.engine.run_record import RunBook, stamp
from dealflow.model import RunStep

logger = Logger()

ATTEMPT_FAILED = "attempt failed"
MAX_KEPT_ERRORS = 10  # the latest tries' errors; the count covers them all
_ERROR_CHARS = 200


def earlier_errors(book: RunBook, name: str) -> list[dict[str, Any]]:
    """The failed tries of step ``name`` the run log holds: ``[{"attempt", "error", "at"}]``."""
    request = book.request
    try:
        record = book.runs.get(request.tenant_id, request.run_id)
    except Exception:  # without them the step still says how many tries it took
        logger.exception("run log not read for a step's earlier tries", extra={"run_id": request.run_id})
        return []
    tries = [s for s in (record.steps if record else []) if s.name == name and s.outcome == ATTEMPT_FAILED]
    return list(tries[-1].detail.get("errors", [])) if tries else []


def note_failed_try(book: RunBook, name: str, attempt: int, earlier: list[dict[str, Any]], error: Exception) -> None:
    """Record that try ``attempt`` of step ``name`` failed with ``error``."""
    failed: dict[str, Any] = {"attempt": attempt, "error": readable(error)[:_ERROR_CHARS], "at": stamp()}
    if getattr(error, "delivery", None):  # a call to another system: the delivery log's entry
        failed["delivery"] = error.delivery  # type: ignore[attr-defined]
    errors = [*earlier, failed]
    step = RunStep(name=name, kind="action", outcome=ATTEMPT_FAILED, at=stamp(), detail=tries(attempt, errors))
    try:
        book.write("running", new_step=step)
    except Exception:  # see above
        logger.exception("run log not written after a failed try", extra={"run_id": book.request.run_id})


def tries(attempts: int, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """What a step's detail says of its tries: how many, and the latest ones' errors."""
    return {"attempts": attempts, "errors": errors[-MAX_KEPT_ERRORS:]} if attempts > 1 or errors else {}


def delivered(earlier: list[dict[str, Any]], outcome: dict[str, Any]) -> dict[str, Any]:
    """The delivery log of a step that calls another system: every try's entry, the failed ones
    (kept with their errors) then this one's (``outcome["delivery"]``); empty for other steps."""
    entries = [e["delivery"] for e in earlier if "delivery" in e]
    if "delivery" in outcome:
        entries.append(outcome["delivery"])
    return {"deliveries": entries} if entries else {}
