"""The tenant's plan at the API: ``GET /usage`` (any role) tells how much automation is switched on
and how much the plan allows; ``within_plan`` refuses a write that would go past it."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.errors import PlanLimit
from dealflow.engine.compiled import TenantAutomation
from dealflow.model.catalog import Automation
from dealflow.policy.plans import PlanExceeded, Usage, adds_active, check_activation, usage_of


def within_plan(tenant: TenantAutomation, candidate: Automation) -> int | None:
    """Raise ``PlanLimit`` (403) unless the plan allows storing ``candidate``. Returns the
    automation version the write must still find (the count was taken at it), or None when the
    write switches nothing more on and so cannot push the tenant past its cap."""
    try:
        check_activation(tenant, candidate)
    except PlanExceeded as exc:
        raise PlanLimit(exc.reason, **exc.details) from None
    return tenant.version if adds_active(tenant, candidate) else None


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/usage",
        summary="The tenant's plan and how much of it is in use",
        tags=["plan"],
        description="Active (switched-on) automation against the plan's cap, the kinds the plan "
        "includes and active automation per kind.",
    )
    def get_usage() -> Usage:
        return usage_of(known(deps(), caller(r)))

    return r
