"""Plans: what a tenant pays for decides how much automation may be active at once and which
kinds it may use. Counted over switched-on items only, so a tenant at its cap can still keep
drafts switched off."""

from __future__ import annotations

from pydantic import Field

from dealflow.model.base import Model
from dealflow.model.catalog import AutomationKind
from dealflow.model.tenant import PlanName


class PricingPlan(Model):
    name: PlanName
    max_active_automations: int = Field(ge=0, description="Rules, tunnels, triggers and processes switched on")
    kinds: list[AutomationKind] = Field(description="Kinds of automation the plan includes")
    max_active_field_step_workflows: int = Field(ge=0)


PLANS: dict[PlanName, PricingPlan] = {
    p.name: p
    for p in (
        PricingPlan(
            name=PlanName.FREE, max_active_automations=5, kinds=["rule", "trigger"], max_active_field_step_workflows=1
        ),
        PricingPlan(
            name=PlanName.TEAM,
            max_active_automations=25,
            kinds=["rule", "trigger", "tunnel"],
            max_active_field_step_workflows=5,
        ),
        PricingPlan(
            name=PlanName.BUSINESS,
            max_active_automations=100,
            kinds=["rule", "trigger", "tunnel", "business_process"],
            max_active_field_step_workflows=20,
        ),
        PricingPlan(
            name=PlanName.ENTERPRISE,
            max_active_automations=1000,
            kinds=["rule", "trigger", "tunnel", "business_process"],
            max_active_field_step_workflows=200,
        ),
    )
}


def plan_of(name: PlanName | str) -> PricingPlan:
    return PLANS[PlanName(name)]


__all__ = ["PLANS", "PlanName", "PricingPlan", "plan_of"]
