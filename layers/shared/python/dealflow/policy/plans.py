"""What a tenant's plan allows, applied: how much automation is active (switched on), what is still
available, and whether storing or switching on one automation stays within the plan.

Only switched-on automation counts, so a tenant at its cap can keep drafts switched off; a kind the
plan does not include cannot be stored at all, not even switched off, so an upgrade is never needed
to find out that a stored process will not run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from dealflow.engine.compiled import TenantAutomation
from dealflow.model.base import Model
from dealflow.model.catalog import AUTOMATION_KINDS, Automation, AutomationKind
from dealflow.model.plan import PricingPlan, plan_of


class PlanExceeded(Exception):
    """Storing or switching on automation would go past what the tenant's plan allows."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class Allowance(Model):
    """How many of something are switched on, how many the plan allows, how many more may be."""

    active: int = Field(ge=0)
    limit: int = Field(ge=0)
    available: int = Field(ge=0, description="limit - active, never below 0 (after a downgrade)")

    @classmethod
    def of(cls, active: int, limit: int) -> Allowance:
        return cls(active=active, limit=limit, available=max(limit - active, 0))


class Usage(Model):
    """A tenant's plan and how much of it is in use."""

    plan: str
    automation: Allowance = Field(description="Rules, tunnels, triggers and business processes switched on")
    kinds: list[AutomationKind] = Field(description="Kinds of automation the plan includes")
    by_kind: dict[str, int] = Field(description="Switched-on automation per kind (every kind, 0 when none)")
    field_step_workflows: Allowance = Field(description="Field–step workflows switched on")


def active(automation: Iterable[Automation]) -> list[Automation]:
    return [a for a in automation if a.enabled]


def usage_of(known: TenantAutomation) -> Usage:
    plan = plan_of(known.tenant.plan)
    on = active(known.by_id.values())
    by_kind = {kind: sum(1 for a in on if a.kind == kind) for kind in AUTOMATION_KINDS}
    workflows = sum(1 for w in known.workflows.values() if w.enabled)
    return Usage(
        plan=plan.name.value,
        automation=Allowance.of(len(on), plan.max_active_automations),
        kinds=list(plan.kinds),
        by_kind=by_kind,
        field_step_workflows=Allowance.of(workflows, plan.max_active_field_step_workflows),
    )


def _check_kind(plan: PricingPlan, candidate: Automation) -> None:
    if candidate.kind not in plan.kinds:
        raise PlanExceeded(
            f"the {plan.name.value} plan does not include {candidate.kind} automation "
            f"(it includes {', '.join(plan.kinds)}) — upgrade to use it",
            kind=candidate.kind,
            plan=plan.name.value,
        )


def adds_active(known: TenantAutomation, candidate: Automation) -> bool:
    """True when storing ``candidate`` switches on one more automation than the tenant has now."""
    current = known.by_id.get(candidate.id)
    return candidate.enabled and not (current is not None and current.enabled)


def check_activation(known: TenantAutomation, candidate: Automation) -> None:
    """Raise ``PlanExceeded`` unless the tenant's plan allows storing ``candidate`` as it is (in
    place of the stored automation with its id, if any). Replacing a switched-on automation with
    a switched-on one never raises over the count: it adds nothing, even after a downgrade."""
    plan = plan_of(known.tenant.plan)
    _check_kind(plan, candidate)
    if not adds_active(known, candidate):
        return
    count, limit = len(active(known.by_id.values())), plan.max_active_automations
    if count + 1 > limit:
        raise PlanExceeded(
            f"{plan.name.value} plan allows {limit} active automations; {count} are active — switch one off or upgrade",
            limit=limit,
            active=count,
        )


def check_changes(known: TenantAutomation, written: Iterable[Any], deleted_ids: Iterable[str]) -> None:
    """Raise ``PlanExceeded`` unless the tenant's plan allows the automation as it would be after
    writing ``written`` and deleting ``deleted_ids`` in one go (a bulk change or an import). Only
    what changes is checked for its kind; the count only refuses growth past the cap, so a tenant
    over its cap after a downgrade can still switch things off or move them."""
    plan = plan_of(known.tenant.plan)
    after = dict(known.by_id)
    for gone in deleted_ids:
        after.pop(gone, None)
    for candidate in written:
        if getattr(candidate, "kind", None) not in AUTOMATION_KINDS:
            continue  # a pipeline or field of an import
        if known.by_id.get(candidate.id) != candidate:
            _check_kind(plan, candidate)
        after[candidate.id] = candidate
    before, count, limit = len(active(known.by_id.values())), len(active(after.values())), plan.max_active_automations
    if count > limit and count > before:
        raise PlanExceeded(
            f"{plan.name.value} plan allows {limit} active automations; this change would make "
            f"{count} active — switch some off or upgrade",
            limit=limit,
            active=before,
        )


def field_step_workflow_counts(known: TenantAutomation) -> dict[str, int]:
    """Active field–step workflows against the plan's cap (switched-off ones are free)."""
    return usage_of(known).field_step_workflows.model_dump()
