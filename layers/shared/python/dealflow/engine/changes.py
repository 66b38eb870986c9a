"""What one deal change is: created, moved between stages, fields changed, deleted."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dealflow.model.deal import Deal
from dealflow.model.run import StageEntry
from dealflow.model.tenant import Tenant

# Bookkeeping the engine itself changes on every write; never a reason for automation to fire.
_BOOKKEEPING = frozenset({"version", "updated_at", "caused_by", "copy_ids"})


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class DealChange:
    kind: ChangeKind
    tenant_id: str
    deal_id: str
    old: Deal | None
    new: Deal | None
    changed_fields: frozenset[str]

    stage_entry: StageEntry | None
    """Set when the deal entered a stage: on creation, or on a move to another stage."""

    @property
    def depth(self) -> int:
        """How many automation writes led here (0 for a person's change)."""
        return self.new.caused_by.depth if self.new is not None and self.new.caused_by else 0


def flat(deal: Deal | None) -> dict[str, Any] | None:
    """A deal as conditions and templates see it: standard and custom fields side by side."""
    if deal is None:
        return None
    values = deal.model_dump(exclude={"fields", "caused_by"})
    values.update(deal.fields)
    return values


def tenant_facts(tenant: Tenant) -> dict[str, Any]:
    """What a rule's, tunnel's or trigger's condition sees beside the deal: ``const.<name>`` and
    ``var.<name>`` (the API accepts those names in conditions, so they must not read as empty)."""
    return {
        **{f"var.{k}": v for k, v in tenant.values("variables").items()},
        **{f"const.{k}": v for k, v in tenant.values("constants").items()},
    }


def diff(old: Deal | None, new: Deal | None) -> DealChange:
    if new is None and old is None:
        raise ValueError("a change needs an old or a new image")
    if old is None:
        kind = ChangeKind.CREATED
    elif new is None:
        kind = ChangeKind.DELETED
    else:
        kind = ChangeKind.UPDATED
    before, after = flat(old) or {}, flat(new) or {}
    changed = frozenset(
        k for k in before.keys() | after.keys() if k not in _BOOKKEEPING and before.get(k) != after.get(k)
    )
    some = new or old
    assert some is not None
    return DealChange(
        kind=kind,
        tenant_id=some.tenant_id,
        deal_id=some.id,
        old=old,
        new=new,
        changed_fields=changed,
        stage_entry=_entered(old, new),
    )


def _entered(old: Deal | None, new: Deal | None) -> StageEntry | None:
    if new is None:
        return None
    if old is None:
        return StageEntry.model_construct(pipeline_id=new.pipeline_id, stage_id=new.stage_id)
    if (old.pipeline_id, old.stage_id) == (new.pipeline_id, new.stage_id):
        return None
    return StageEntry.model_construct(
        pipeline_id=new.pipeline_id, stage_id=new.stage_id, from_pipeline_id=old.pipeline_id, from_stage_id=old.stage_id
    )
