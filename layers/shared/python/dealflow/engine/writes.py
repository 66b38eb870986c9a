"""What automation writes: the stages it sends deals to and the fields it sets, each with where
its author named it. The loop check, the moves check, access rights and the references' own
checks all read this one list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from dealflow.model import (
    Action,
    Assign,
    BusinessProcess,
    CopyToPipeline,
    HttpRequest,
    MoveToPipeline,
    MoveToStage,
    Trigger,
    Tunnel,
    UpdateFields,
)
from dealflow.model.catalog import Automation


@dataclass(frozen=True, slots=True)
class Write:
    """Somewhere automation sends deals (a stage), or a field it sets, and who says so."""

    kind: Literal["stage", "field"]
    pipeline_id: str | None  # the stage's pipeline, or the pipeline of the deals written (None: any)
    name: str  # stage id or field code
    at: str  # where the author named it: actions.0.stage_id, target_stage_id, actions.0.values.amount
    by: str = ""  # the action that writes (actions.0, nodes.2.action); "" for the automation itself
    pipeline_at: str | None = None  # where the author named the pipeline, when a write leaves its own
    literal: Any = None  # the value a field is set to, when written as a value (not an expression)


def action_writes(action: Action, pipeline_id: str | None, at: str) -> list[Write]:
    """What one action at ``at`` of automation on ``pipeline_id`` writes."""
    if isinstance(action, MoveToStage):
        return [Write("stage", pipeline_id, action.stage_id, f"{at}.stage_id", at)]
    if isinstance(action, CopyToPipeline | MoveToPipeline):
        return [Write("stage", action.pipeline_id, action.stage_id, f"{at}.stage_id", at, f"{at}.pipeline_id")]
    if isinstance(action, UpdateFields):
        return [
            Write("field", pipeline_id, code, f"{at}.values.{code}", at, literal=spec.value)
            for code, spec in action.values.items()
        ]
    if isinstance(action, HttpRequest) and action.save_response is not None:
        # The answer saved into deal fields: written like update_fields' (checked, looped, warned).
        save = action.save_response
        targets = [("status", save.status)] if save.status is not None else []
        targets += [(f"values.{path}", target) for path, target in save.values.items()]
        return [
            Write("field", pipeline_id, t.field, f"{at}.save_response.{where}.field", at)
            for where, t in targets
            if t.field is not None
        ]
    if isinstance(action, Assign):
        return [Write("field", pipeline_id, "responsible_id", f"{at}.{'role' if action.role else 'users'}", at)]
    return []


def _node_writes(tree: list[Any], pipeline_id: str | None, at: str) -> list[Write]:
    found: list[Write] = []
    for i, node in enumerate(tree):
        here = f"{at}.{i}"
        if node.kind == "action":
            found += action_writes(node.action, pipeline_id, f"{here}.action")
            found += _node_writes(node.fault, pipeline_id, f"{here}.fault")
        elif node.kind == "condition":
            for j, branch in enumerate(node.branches):
                found += _node_writes(branch.nodes, pipeline_id, f"{here}.branches.{j}.nodes")
            found += _node_writes(node.otherwise, pipeline_id, f"{here}.otherwise")
        elif node.kind == "loop":
            found += _node_writes(node.nodes, pipeline_id, f"{here}.nodes")
        elif node.kind == "wait_for":
            found += _node_writes(node.received, pipeline_id, f"{here}.received")
            found += _node_writes(node.timed_out, pipeline_id, f"{here}.timed_out")
    return found


def writes_of(automation: Automation) -> list[Write]:
    """Every stage ``automation`` sends deals to and every field it sets: a tunnel's target, a
    trigger's stage, and what the actions of a rule or the action nodes of a process do."""
    if isinstance(automation, Tunnel):
        target = (automation.target_pipeline_id, automation.target_stage_id)
        return [Write("stage", *target, "target_stage_id", pipeline_at="target_pipeline_id")]
    if isinstance(automation, Trigger):
        return [Write("stage", automation.pipeline_id, automation.stage_id, "stage_id")]
    if isinstance(automation, BusinessProcess):
        return _node_writes(automation.nodes, automation.pipeline_id, "nodes")
    found: list[Write] = []
    for i, action in enumerate(automation.actions):
        found += action_writes(action, automation.pipeline_id, f"actions.{i}")
    return found
