"""The ``assign`` action: make one of a set of users (or of a role) the deal's responsible user.

Round-robin takes the pool's next turn from a counter every run shares (``AssignmentTurns``: no
two assignments get the same turn, however many run at once) and gives turn ``n`` to the ``n``-th
candidate, so eight deals among eight users give each one. Least-loaded counts each candidate's
open deals (deals they are responsible for whose stage is neither won nor lost, counted when the
action runs: ``Workloads``) and takes the fewest, ties in turn — runs at the same moment see the
same counts, and the turn spreads them over the tied users instead of all picking the first.
With ``skip_unavailable`` the candidates out of office or outside their working hours (their own
calendar, else the tenant's) are passed over first; when nobody is left the action fails, saying
who was passed over and why.
"""

from __future__ import annotations

from typing import Any

from dealflow import clock
from dealflow.engine.actions.context import ActionContext, ActionError
from dealflow.engine.calendars import unavailable
from dealflow.model import Assign, StageSemantic, Tenant

# A DynamoDB filter's IN takes at most 100 values: a pool is at most that many users.
MAX_CANDIDATES = 100


def candidates(action: Assign, tenant: Tenant) -> list[str]:
    """The users to choose among, in turn order: as listed, or the role's users by id."""
    if action.role is not None:
        return sorted(u.id for u in tenant.users if u.role.value == action.role)[:MAX_CANDIDATES]
    return [u for u in action.users if tenant.user(u) is not None]


def assign(action: Assign, ctx: ActionContext) -> dict[str, Any]:
    services = ctx.services
    if services.turns is None:
        raise ActionError("assignment needs the turn counter, which this runner was not given")
    compiled = services.automation.load(ctx.tenant.id)  # users, roles and calendars as they are now
    tenant = compiled.tenant
    pool = candidates(action, tenant)
    if not pool:
        who = f"role '{action.role}'" if action.role else "users " + ", ".join(action.users)
        raise ActionError(f"no one to assign: {who} name no user of the tenant")
    skipped: dict[str, str] = {}
    if action.skip_unavailable:
        moment = clock.now()
        for user_id in pool:
            reason = unavailable(tenant, user_id, moment)
            if reason:
                skipped[user_id] = reason
        pool = [u for u in pool if u not in skipped]
        if not pool:
            passed = "; ".join(f"{u}: {why}" for u, why in skipped.items())
            raise ActionError(f"no one to assign: everyone was passed over ({passed})")
    turn = services.turns.take(tenant.id, action.pool_key, ctx.effect_key)
    result: dict[str, Any] = {"strategy": action.strategy, "turn": turn, "candidates": len(pool)}
    if action.strategy == "least_loaded":
        if services.workloads is None:
            raise ActionError("least_loaded needs the deal counts, which this runner was not given")
        closed = [
            (pipeline.id, stage.id)
            for pipeline in compiled.pipelines.values()
            for stage in pipeline.stages
            if stage.semantic != StageSemantic.IN_PROGRESS
        ]
        loads = services.workloads.open_deals(tenant.id, pool, closed)
        fewest = min(loads[u] for u in pool)
        tied = [u for u in pool if loads[u] == fewest]
        chosen = tied[(turn - 1) % len(tied)]
        result["open_deals"] = loads
    else:
        chosen = pool[(turn - 1) % len(pool)]
    deal, applied = services.deals.apply(
        tenant.id,
        ctx.deal.id,
        lambda d: d.model_copy(update={"responsible_id": chosen}),
        ctx.causation,
        ctx.effect_key,
    )
    ctx.deal = deal
    user = tenant.user(chosen)
    result |= {"assigned_to": chosen, "name": user.name if user else chosen, "duplicate": not applied}
    if skipped:
        result["skipped"] = skipped
    return result
