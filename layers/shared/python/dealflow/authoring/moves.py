"""Copying and moving automation between stages, pipelines and entities, and choosing automation
in bulk. Pure functions over a tenant's compiled automation: the API routes (api/automation_moves.py)
and the import (transfer.py) decide what to write, ``write_changes`` writes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from dealflow.authoring.checks import AUTOMATION
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.writes import writes_of
from dealflow.http_errors import PayloadTooLarge
from dealflow.model import BusinessProcess, Pipeline
from dealflow.model.base import Id, Model
from dealflow.model.catalog import Automation, AutomationKind, Definition
from dealflow.model.tenant import TypedValue
from dealflow.model.versions import VersionNote
from dealflow.policy.access import automation_entity
from dealflow.policy.plans import check_changes
from dealflow.ports import MAX_WRITES, AutomationWriter

_MAX_ID = 64


class Target(Model):
    """Where automation goes: a pipeline (its entity decides a business process's entity), a stage
    (or a map from old stages to new ones; a stage missing from the map keeps its id)."""

    pipeline_id: Id | None = None
    stage_id: Id | None = None
    stage_map: dict[str, Id] = Field(default_factory=dict, description="Old stage id → new stage id")
    entity: Literal["deal", "lead"] | None = Field(
        default=None, description="For business processes without a pipeline"
    )


def retarget(automation: Automation, target: Target, known: TenantAutomation, **changes: Any) -> Automation:
    """``automation`` placed at ``target``, validated again as a whole (a tunnel may not lead to its
    own pipeline); ``changes`` (id, name, enabled, version) applied too. pydantic problems raise
    ``ValidationError``; references are the caller's to check."""
    body = automation.model_dump(by_alias=True, exclude_none=True)
    pipeline_id = target.pipeline_id
    if isinstance(automation, BusinessProcess):
        pipeline: Pipeline | None = known.pipelines.get(pipeline_id) if pipeline_id else None
        entity = pipeline.entity if pipeline is not None else target.entity
        if pipeline_id is not None and pipeline_id != automation.pipeline_id and "schedule" in body:
            # A schedule's stages are the pipeline's: they follow the stage map into the new one.
            stages = body["schedule"].get("stage_ids", [])
            body["schedule"]["stage_ids"] = [target.stage_map.get(s, s) for s in stages]
        if pipeline_id is not None:
            body["pipeline_id"] = pipeline_id
        if entity is not None:
            body["entity"] = entity
    else:
        old_stage = body["stage_id"]
        changed_pipeline = pipeline_id is not None and pipeline_id != body["pipeline_id"]
        body["pipeline_id"] = pipeline_id or body["pipeline_id"]
        body["stage_id"] = target.stage_id or target.stage_map.get(old_stage, old_stage)
        if changed_pipeline:
            # Stage moves stay within the automation's pipeline: they follow the stage map there.
            for write in writes_of(automation):
                if write.kind == "stage" and write.by and write.pipeline_at is None:
                    _set(body, write.at, target.stage_map.get(write.name, write.name))
    return AUTOMATION.validate_python({**body, **changes})


def _set(body: dict[str, Any], at: str, value: Any) -> None:
    """Set the value at a dotted path (``actions.0.stage_id``) of a dumped model."""
    *parents, last = at.split(".")
    here: Any = body
    for part in parents:
        here = here[int(part)] if isinstance(here, list) else here[part]
    here[last] = value


def copy_id(original: str, taken: Iterable[str]) -> str:
    """A free id made from the original's: ``lost-email-copy``, then ``lost-email-copy-2``…"""
    used = set(taken)
    for n in range(1, 10_000):
        suffix = "-copy" if n == 1 else f"-copy-{n}"
        candidate = original[: _MAX_ID - len(suffix)] + suffix
        if candidate not in used:
            return candidate
    raise RuntimeError(f"no free copy id for '{original}'")


class Selection(Model):
    """Automation chosen by what it is and where it sits; every given criterion must hold."""

    kind: AutomationKind | None = None
    pipeline_id: Id | None = None
    stage_id: Id | None = None
    entity: Literal["deal", "lead"] | None = None
    q: str | None = Field(default=None, max_length=200, description="Part of the name or id")


def select(known: TenantAutomation, selection: Selection) -> list[Automation]:
    needle = (selection.q or "").casefold()

    def matches(a: Automation) -> bool:
        return (
            (selection.kind is None or a.kind == selection.kind)
            and (selection.pipeline_id is None or a.pipeline_id == selection.pipeline_id)
            and (selection.stage_id is None or getattr(a, "stage_id", None) == selection.stage_id)
            and (selection.entity is None or automation_entity(a, known.pipelines) == selection.entity)
            and (not needle or needle in a.name.casefold() or needle in a.id.casefold())
        )

    return sorted((a for a in known.by_id.values() if matches(a)), key=lambda a: a.id)


@dataclass
class Changes:
    """Definitions to write: new ones, replaced ones (at the stored version), deleted ones."""

    created: list[Definition] = field(default_factory=list)
    replaced: list[tuple[Definition, int | object]] = field(default_factory=list)
    deleted: list[tuple[Definition, int | object]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.created) + len(self.replaced) + len(self.deleted)

    def writes(self) -> list[tuple[Definition, int | object | None, bool]]:
        """(definition, expected version, is a delete), puts in the order given, then deletes."""
        return [
            *((m, None, False) for m in self.created),
            *((m, v, False) for m, v in self.replaced),
            *((m, v, True) for m, v in self.deleted),
        ]


def write_changes(
    store: AutomationWriter,
    tenant_id: str,
    known: TenantAutomation,
    changes: Changes,
    *,
    constants: dict[str, TypedValue] | None = None,
    note: VersionNote | None = None,
) -> None:
    """The one way copies, moves, bulk changes and imports are written, against the automation
    ``known`` was compiled from: a write since then is ``StaleDefinition`` and nothing is written.
    Everything goes in one transaction with the version bump, so readers see the tenant's
    automation before or after, never a mix, and a failure leaves nothing written. What does not
    fit one transaction (more than MAX_WRITES definitions, or DynamoDB's 4 MB, checked by the store)
    is ``PayloadTooLarge`` naming the limit, before anything is written. What the tenant's plan
    allows is checked first (``PlanExceeded``: kinds, and active automation past the cap)."""
    writes = changes.writes()
    check_changes(
        known, [m for m, _, gone in writes if not gone], [m.id for m, _, gone in writes if gone and hasattr(m, "id")]
    )
    if len(writes) > MAX_WRITES:
        raise PayloadTooLarge(
            f"{len(writes)} definitions change; at most {MAX_WRITES} change at once (one DynamoDB "
            "transaction, so that nothing is ever half-applied): split the change",
            limit="transaction_items",
            max=MAX_WRITES,
            size=len(writes),
        )
    store.write_definitions(
        tenant_id,
        [(m, v) for m, v, gone in writes if not gone],
        [(m, v) for m, v, gone in writes if gone],
        at_version=known.version,
        constants=constants,
        note=note,
    )


__all__ = [
    "Changes",
    "Selection",
    "Target",
    "copy_id",
    "retarget",
    "select",
    "write_changes",
]
