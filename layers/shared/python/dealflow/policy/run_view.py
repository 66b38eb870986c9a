"""The run log as a reader's role may see it. A field hidden from the role never shows its value
in a run: not in a why-not trace (a clause's ``actual`` and ``before``), not in the values an
``update_fields`` step set, and not in texts rendered from templates that read a hidden field
(e-mail, notification, task, workgroup, variable). Each shows ``"(hidden)"`` with ``"hidden": true``,
so a hidden value never looks like a missing one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dealflow.model import RunRecord
from dealflow.model.catalog import Automation
from dealflow.policy.access import Access, hidden_use

HIDDEN = "(hidden)"
# What action and set_variable steps render from templates and keep in their details (an
# http_request's request and delivery log carry its rendered body, and the answer it saved).
_RENDERED = ("subject", "body", "message", "title", "description", "name", "value", "request", "deliveries", "saved")


def run_view(run: RunRecord, readers: Sequence[Access], automation: Automation | None) -> RunRecord:
    """``run`` as seen through ``readers`` (the access to the run's entity; both entities' when it
    is not known, hiding what either hides). ``automation`` is the run's automation as stored now;
    None (it was deleted) hides every rendered text from a role that has hidden fields."""
    if not any(a.hidden_fields for a in readers):
        return run

    def readable(field: str) -> bool:
        return all(a.readable(field) for a in readers)

    texts_hidden = automation is None or any(hidden_use(automation, a, reads_only=True) is not None for a in readers)
    steps = [
        step.model_copy(update={"detail": _step_detail(step.detail, readable, texts_hidden)}) for step in run.steps
    ]
    return run.model_copy(update={"steps": steps})


def _step_detail(detail: dict[str, Any], readable: Callable[[str], bool], texts_hidden: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {k: _traces(v, readable) for k, v in detail.items()}
    values = shown.get("values")
    if isinstance(values, dict):  # update_fields: what it set, by field
        hidden = [k for k in values if texts_hidden or not readable(k)]
        if hidden:
            shown["values"] = {k: HIDDEN if k in hidden else v for k, v in values.items()}
            shown["hidden_fields"] = hidden
    if texts_hidden and any(k in shown for k in _RENDERED):
        shown |= {k: HIDDEN for k in _RENDERED if k in shown}
        shown["hidden"] = True
    return shown


def _traces(value: Any, readable: Callable[[str], bool]) -> Any:
    """``value`` with each why-not clause (``{"field", "actual", ...}``) on a hidden field hidden."""
    if isinstance(value, list):
        return [_traces(v, readable) for v in value]
    if not isinstance(value, dict):
        return value
    if "field" in value and "actual" in value:
        operand = value.get("value")
        if isinstance(operand, dict) and "field" in operand and not readable(str(operand["field"])):
            value = {**value, "resolved": HIDDEN, "hidden": True}  # compared with a field it may not read
        if readable(str(value["field"])):
            return value
        return {**value, "actual": HIDDEN, **({"before": HIDDEN} if "before" in value else {}), "hidden": True}
    return {k: _traces(v, readable) for k, v in value.items()}
