"""What a tenant's plan allows: how much automation is switched on and still available, which kinds
the plan includes, and whether storing, switching on or changing automation in bulk stays within it."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.model.plan import PLANS
from dealflow.model.tenant import PlanName
from dealflow.policy.plans import (
    PlanExceeded,
    adds_active,
    check_activation,
    check_changes,
    field_step_workflow_counts,
    usage_of,
)
from tests.fakes import a_rule, a_tenant, a_workflow, automation_of, compiled_tenant

PROCESS = automation_of(
    kind="business_process",
    id="won-process",
    name="On won",
    start_on=["change"],
    nodes=[{"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": "won"}}],
)


def _known(plan: PlanName = PlanName.BUSINESS, *, active: int = 0, off: int = 0, automation: Any = ()) -> Any:
    """A tenant on ``plan`` with ``active`` rules switched on, ``off`` switched off, and ``automation``."""
    move = {"kind": "move_to_stage", "stage_id": "lost"}  # no template: a thousand compile in a blink
    rules = [a_rule(f"on-{n}", move) for n in range(active)]
    rules += [a_rule(f"off-{n}", move, enabled=False) for n in range(off)]
    return compiled_tenant(a_tenant(plan=plan), automation=[*rules, *automation])


def _refusal(check: Any, *args: Any) -> PlanExceeded:
    with pytest.raises(PlanExceeded) as exc:
        check(*args)
    return exc.value


def test_usage_counts_switched_on_automation_per_kind_against_the_plan() -> None:
    known = compiled_tenant(  # business plan: two rules, a tunnel and two triggers switched on
        automation=[*compiled_tenant().by_id.values(), a_rule("draft", enabled=False)],
        workflows=[a_workflow(), a_workflow("off", field_code="region", step_id="qualify", enabled=False)],
    )

    usage = usage_of(known)

    assert usage.plan == "business"
    assert usage.automation.model_dump() == {"active": 5, "limit": 100, "available": 95}
    assert usage.kinds == ["rule", "trigger", "tunnel", "business_process"]
    assert usage.by_kind == {"rule": 2, "tunnel": 1, "trigger": 2, "business_process": 0}
    assert usage.field_step_workflows.model_dump() == {"active": 1, "limit": 20, "available": 19}
    assert field_step_workflow_counts(known) == {"active": 1, "limit": 20, "available": 19}


def test_after_a_downgrade_nothing_is_available_rather_than_less_than_nothing() -> None:
    usage = usage_of(_known(PlanName.FREE, active=7))
    assert usage.automation.model_dump() == {"active": 7, "limit": 5, "available": 0}
    assert usage.kinds == ["rule", "trigger"]


@pytest.mark.parametrize(
    ("plan", "cap"), [(PlanName.FREE, 5), (PlanName.TEAM, 25), (PlanName.BUSINESS, 100), (PlanName.ENTERPRISE, 1000)]
)
def test_each_plan_caps_switched_on_automation(plan: PlanName, cap: int) -> None:
    assert PLANS[plan].max_active_automations == cap
    check_activation(_known(plan, active=cap - 1), a_rule("last"))  # the last one that fits

    at_cap = _known(plan, active=cap, off=1)
    refused = _refusal(check_activation, at_cap, a_rule("one-more"))
    assert refused.details == {"limit": cap, "active": cap}
    assert refused.reason == (
        f"{plan.value} plan allows {cap} active automations; {cap} are active — switch one off or upgrade"
    )
    check_activation(at_cap, a_rule("draft", enabled=False))  # drafts are free
    _refusal(check_activation, at_cap, a_rule("off-0"))  # switching a draft on is an activation


def test_replacing_switched_on_automation_adds_nothing_even_over_the_cap() -> None:
    over = _known(PlanName.FREE, active=7)
    renamed = over.by_id["on-0"].model_copy(update={"name": "Renamed", "version": 2})
    assert adds_active(over, renamed) is False
    check_activation(over, renamed)
    assert adds_active(over, a_rule("new")) is True and adds_active(over, a_rule("new", enabled=False)) is False


@pytest.mark.parametrize(
    ("plan", "kinds"),
    [
        (PlanName.FREE, {"rule", "trigger"}),
        (PlanName.TEAM, {"rule", "trigger", "tunnel"}),
        (PlanName.BUSINESS, {"rule", "trigger", "tunnel", "business_process"}),
    ],
)
def test_a_kind_the_plan_lacks_is_refused_even_switched_off(plan: PlanName, kinds: set[str]) -> None:
    tunnel = compiled_tenant().by_id["won-to-delivery"]
    for candidate in (tunnel, PROCESS):
        draft = candidate.model_copy(update={"enabled": False})
        if candidate.kind in kinds:
            check_activation(_known(plan), draft)
            continue
        refused = _refusal(check_activation, _known(plan), draft)
        assert refused.details == {"kind": candidate.kind, "plan": plan.value}
        assert f"the {plan.value} plan does not include {candidate.kind} automation" in refused.reason


def test_a_bulk_change_may_not_grow_past_the_cap() -> None:
    known = _known(PlanName.FREE, active=3)
    check_changes(known, [a_rule("a"), a_rule("b")], [])

    refused = _refusal(check_changes, known, [a_rule("a"), a_rule("b"), a_rule("c")], [])
    assert refused.details == {"limit": 5, "active": 3}
    assert "this change would make 6 active" in refused.reason

    check_changes(known, [a_rule("a"), a_rule("b"), a_rule("c")], ["on-0"])  # one goes: five stay on
    check_changes(known, [a_rule(f"x{n}", enabled=False) for n in range(10)], [])  # drafts are free


def test_over_the_cap_after_a_downgrade_a_tenant_may_still_switch_off_and_move() -> None:
    over = _known(PlanName.FREE, active=8)
    switched_off = [over.by_id[f"on-{n}"].model_copy(update={"enabled": False}) for n in range(2)]
    check_changes(over, switched_off, [])
    moved = [over.by_id[f"on-{n}"].model_copy(update={"stage_id": "lost"}) for n in range(8)]
    check_changes(over, moved, [])
    _refusal(check_changes, over, [a_rule("one-more")], [])


def test_only_what_changes_is_checked_for_its_kind() -> None:
    # A tunnel kept from the team plan may stay as it is on free, but not be changed or added.
    tunnel = compiled_tenant().by_id["won-to-delivery"].model_copy(update={"enabled": False})
    known = _known(PlanName.FREE, automation=[tunnel])
    pipeline = known.pipelines["sales"]

    check_changes(known, [tunnel, pipeline, a_rule("new")], [])  # pipelines and fields are no automation
    refused = _refusal(check_changes, known, [tunnel.model_copy(update={"name": "Renamed"})], [])
    assert refused.details == {"kind": "tunnel", "plan": "free"}
