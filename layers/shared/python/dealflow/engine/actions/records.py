"""Workgroups and tasks created for a deal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dealflow import clock
from dealflow.engine.actions.context import ActionContext, ActionError
from dealflow.language import templates
from dealflow.model import CreateTask, CreateWorkgroup


def _owner(ctx: ActionContext, user_id: str | None, role: str) -> str:
    owner = user_id or ctx.deal.responsible_id
    if owner is None:
        raise ActionError(f"no {role}: the deal has no responsible user and none was chosen")
    if ctx.tenant.user(owner) is None:
        raise ActionError(f"{role}: unknown user '{owner}'")
    return owner


def create_task(action: CreateTask, ctx: ActionContext) -> dict[str, Any]:
    variables = ctx.template_variables()
    task = {
        "deal_id": ctx.deal.id,
        "assignee_id": _owner(ctx, action.assignee_id, "assignee"),
        "title": templates.render_text(action.title, variables).strip(),
        "description": templates.render_text(action.description, variables),
        "run_id": ctx.causation.run_id,
        "created_at": clock.now_iso(),
    }
    if action.due_in_days is not None:
        task["due_date"] = (clock.now() + timedelta(days=action.due_in_days)).date().isoformat()
    stored, created = ctx.services.records.create_once(ctx.tenant.id, "task", ctx.effect_key, task)
    return {**stored, "duplicate": not created}


def create_workgroup(action: CreateWorkgroup, ctx: ActionContext) -> dict[str, Any]:
    owner = _owner(ctx, action.owner_id, "owner")
    unknown = [m for m in action.members if ctx.tenant.user(m) is None]
    if unknown:
        raise ActionError(f"members: unknown user(s) {', '.join(unknown)}")
    group = {
        "deal_id": ctx.deal.id,
        "owner_id": owner,
        "name": templates.render_text(action.name, ctx.template_variables()).strip(),
        "members": list(dict.fromkeys([owner, *action.members])),
        "run_id": ctx.causation.run_id,
        "created_at": clock.now_iso(),
    }
    stored, created = ctx.services.records.create_once(ctx.tenant.id, "workgroup", ctx.effect_key, group)
    return {**stored, "duplicate": not created}
