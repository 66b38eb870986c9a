"""The automation map: a tenant's pipelines as rows of stages, tunnels (and rules that copy or move
deals into another pipeline) as arrows between stages, rules and triggers as badges on the stage
they watch, business processes as badges on their pipeline, and what is wrong marked on each —
broken references (``TenantAutomation.warnings``) and loop-check cycles (``loops.find_loops``).

This module decides *what* is drawn; ``map_svg`` and ``map_mermaid`` decide how. Everything comes
in a fixed order (pipelines and automation by id, stages as the pipeline orders them), so the same
automation always gives the same picture, byte for byte."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dealflow.authoring.loops import Loop, find_loops
from dealflow.engine.compiled import TenantAutomation
from dealflow.model import BusinessProcess, Rule, Trigger, Tunnel
from dealflow.model.automation import CopyToPipeline, MoveToPipeline
from dealflow.model.catalog import Automation

Mode = Literal["copy", "move"]


@dataclass(frozen=True, slots=True)
class Badge:
    """One automation as its stage (or pipeline) shows it."""

    automation_id: str
    kind: str  # rule, trigger, tunnel, business_process
    name: str
    enabled: bool
    warnings: tuple[str, ...] = ()
    loops: tuple[str, ...] = ()  # the loop-check cycles it is part of, as text

    @property
    def marked(self) -> bool:
        """Broken or in a loop: drawn so that it catches the eye."""
        return bool(self.warnings or self.loops)

    @property
    def details(self) -> str:
        """What hovering over it tells."""
        state = "" if self.enabled else " (switched off)"
        lines = [f"{self.kind} '{self.automation_id}': {self.name}{state}"]
        lines += [f"⚠ {w}" for w in self.warnings]
        lines += [f"⟳ {loop}" for loop in self.loops]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class StageCell:
    id: str
    name: str
    semantic: str  # in_progress, won, lost
    badges: tuple[Badge, ...] = ()


@dataclass(frozen=True, slots=True)
class PipelineRow:
    id: str
    name: str
    entity: str
    stages: tuple[StageCell, ...]
    badges: tuple[Badge, ...] = ()  # business processes of this pipeline


@dataclass(frozen=True, slots=True)
class Arrow:
    """Deals copied or moved from one stage into another pipeline's stage, by one automation."""

    source: tuple[str, str]  # (pipeline, stage)
    target: tuple[str, str]
    mode: Mode
    badge: Badge

    @property
    def details(self) -> str:
        (sp, ss), (tp, ts) = self.source, self.target
        return f"{self.mode} {sp}/{ss} → {tp}/{ts}\n{self.badge.details}"


@dataclass(frozen=True, slots=True)
class AutomationMap:
    tenant_id: str
    pipelines: tuple[PipelineRow, ...]
    arrows: tuple[Arrow, ...]
    # Automation that names a pipeline or stage the tenant does not have, or acts on every pipeline.
    elsewhere: tuple[Badge, ...] = ()
    loops: tuple[Loop, ...] = field(default_factory=tuple)

    @property
    def marked(self) -> tuple[Badge, ...]:
        """Every badge that is broken or in a loop (arrows' badges included), once each, by id."""
        seen: dict[str, Badge] = {}
        for badge in self._badges():
            if badge.marked:
                seen.setdefault(badge.automation_id, badge)
        return tuple(seen[k] for k in sorted(seen))

    def _badges(self) -> list[Badge]:
        found = [b for row in self.pipelines for b in row.badges]
        found += [b for row in self.pipelines for stage in row.stages for b in stage.badges]
        return found + [a.badge for a in self.arrows] + list(self.elsewhere)


def _loop_text(loop: Loop) -> str:
    return f"{' → '.join([*loop.members, loop.members[0]])} ({loop.reason})"


def _moves(automation: Automation) -> list[tuple[tuple[str, str], Mode]]:
    """The other pipelines' stages ``automation`` copies or moves deals into, and how."""
    if isinstance(automation, Tunnel):
        return [((automation.target_pipeline_id, automation.target_stage_id), automation.mode)]
    if isinstance(automation, Rule):
        return [
            ((a.pipeline_id, a.stage_id), "copy" if isinstance(a, CopyToPipeline) else "move")
            for a in automation.actions
            if isinstance(a, CopyToPipeline | MoveToPipeline)
        ]
    return []


def automation_map(known: TenantAutomation) -> AutomationMap:
    """What the map of ``known`` shows."""
    loops = find_loops(a for a in known.by_id.values() if a.enabled)
    in_loops: dict[str, list[str]] = {}
    for loop in loops:
        for member in loop.members:
            in_loops.setdefault(member, []).append(_loop_text(loop))
    on_stage: dict[tuple[str, str], list[Badge]] = {}
    on_pipeline: dict[str, list[Badge]] = {}
    arrows: list[Arrow] = []
    elsewhere: list[Badge] = []

    def has_stage(pipeline_id: str, stage_id: str) -> bool:
        pipeline = known.pipelines.get(pipeline_id)
        return pipeline is not None and pipeline.stage(stage_id) is not None

    for automation in sorted(known.by_id.values(), key=lambda a: a.id):
        badge = Badge(
            automation_id=automation.id,
            kind=automation.kind,
            name=automation.name,
            enabled=automation.enabled,
            warnings=tuple(known.warnings.get(automation.id, ())),
            loops=tuple(in_loops.get(automation.id, ())),
        )
        if isinstance(automation, BusinessProcess):
            pipeline_id = automation.pipeline_id
            if pipeline_id is not None and pipeline_id in known.pipelines:
                on_pipeline.setdefault(pipeline_id, []).append(badge)
            else:
                elsewhere.append(badge)
            continue
        source = (automation.pipeline_id, automation.stage_id)
        if not has_stage(*source):
            elsewhere.append(badge)
            continue
        moves = [(target, mode) for target, mode in _moves(automation) if has_stage(*target)]
        if isinstance(automation, Tunnel) and moves:
            arrows += [Arrow(source, target, mode, badge) for target, mode in moves]
            continue
        if isinstance(automation, Rule | Trigger | Tunnel):  # a tunnel whose target is gone: on its stage
            on_stage.setdefault(source, []).append(badge)
        arrows += [Arrow(source, target, mode, badge) for target, mode in moves]

    rows = tuple(
        PipelineRow(
            id=pipeline.id,
            name=pipeline.name,
            entity=pipeline.entity,
            stages=tuple(
                StageCell(s.id, s.name, s.semantic.value, tuple(on_stage.get((pipeline.id, s.id), ())))
                for s in pipeline.stages
            ),
            badges=tuple(on_pipeline.get(pipeline.id, ())),
        )
        for pipeline in (known.pipelines[k] for k in sorted(known.pipelines))
    )
    return AutomationMap(
        tenant_id=known.tenant.id,
        pipelines=rows,
        arrows=tuple(arrows),
        elsewhere=tuple(elsewhere),
        loops=tuple(loops),
    )
