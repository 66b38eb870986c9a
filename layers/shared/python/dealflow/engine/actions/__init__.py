"""One module per action kind; ``perform`` picks the right one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dealflow.engine.actions import assign, deals, failures, http, messages, records
from dealflow.engine.actions.context import ActionContext, ActionError, Services
from dealflow.model import Action

_PERFORMERS: dict[str, Callable[[Any, ActionContext], dict[str, Any]]] = {
    "send_email": messages.send_email,
    "notify": messages.notify,
    "update_fields": deals.update_fields,
    "move_to_stage": deals.move_to_stage,
    "move_to_pipeline": deals.move_to_pipeline,
    "copy_to_pipeline": deals.copy_to_pipeline,
    "create_task": records.create_task,
    "create_workgroup": records.create_workgroup,
    "notify_on_failure": failures.notify_on_failure,
    "http_request": http.http_request,
    "assign": assign.assign,
}


def perform(action: Action, ctx: ActionContext) -> dict[str, Any]:
    """Carry out one action; the result is JSON-ready and goes into the run log."""
    return _PERFORMERS[action.kind](action, ctx)


__all__ = ["ActionContext", "ActionError", "Services", "perform"]
