"""Goals and exits: whether a run under way should end now, and how its log says so.

Checked inside the steps that read the item anyway — every check (the run's first, and the one
after each wait), every action, every process delay's planning — so a replay takes the recorded
answer and no durable operation is added. The goal comes first: a deal that is won while a
"stop when won" run waits ends ``goal_met``, not ``exited`` on a "left the stage" criterion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dealflow.language.conditions import compile_condition
from dealflow.model import Deal, Pipeline
from dealflow.model.catalog import Automation
from dealflow.model.enrollment import ExitCriterion
from dealflow.model.pipeline import StageSemantic


@dataclass(frozen=True, slots=True)
class Ending:
    """Why a run ends early: ``goal_met`` or ``exited``, with the criterion named."""

    status: Literal["goal_met", "exited"]
    reason: str
    criterion: str
    conditions: list[dict[str, Any]]

    @property
    def outcome(self) -> str:
        return "goal met" if self.status == "goal_met" else "exited"


def _exit_holds(
    criterion: ExitCriterion,
    item: Deal,
    facts: dict[str, Any],
    pipelines: Mapping[str, Pipeline],
    started_in: tuple[str, str] | None,
    trace: list[dict[str, Any]],
) -> str | None:
    """What the run log says when ``criterion`` holds for ``item`` (None: it does not)."""
    if criterion.when == "left_stage":
        if started_in is None or (item.pipeline_id, item.stage_id) == started_in:
            return None
        return f"left stage '{started_in[1]}' (now in '{item.stage_id}')"
    if criterion.when in ("won", "lost"):
        pipeline = pipelines.get(item.pipeline_id)
        stage = pipeline.stage(item.stage_id) if pipeline else None
        if stage is None or stage.semantic is not StageSemantic(criterion.when):
            return None
        return f"{criterion.when} (stage '{item.stage_id}')"
    assert criterion.condition is not None
    return "its condition holds" if compile_condition(criterion.condition)(facts, None, trace) else None


def ending(
    automation: Automation,
    item: Deal,
    facts: dict[str, Any],
    pipelines: Mapping[str, Pipeline],
    started_in: tuple[str, str] | None,
) -> Ending | None:
    """Whether ``automation``'s goal holds for ``item`` (its flat ``facts``, constants and
    variables included), or one of its exits; ``started_in`` is the (pipeline, stage) the item was
    in when the run started (for ``left_stage``)."""
    goal, exits = automation.goal, automation.exits
    if goal is None and not exits:
        return None
    if goal is not None:
        trace: list[dict[str, Any]] = []
        if compile_condition(goal.condition)(facts, None, trace):
            return Ending("goal_met", f"goal met: {goal.name}", goal.name, trace)
    for criterion in exits:
        trace = []
        said = _exit_holds(criterion, item, facts, pipelines, started_in, trace)
        if said is not None:
            label = criterion.label
            reason = f"exited: {said}" if said.startswith(label) else f"exited: {label} — {said}"
            return Ending("exited", reason, label, trace)
    return None
