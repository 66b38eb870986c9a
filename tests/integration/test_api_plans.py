"""Plans through the management API: how much automation may be switched on, which kinds a plan
includes, and GET /usage showing both as they change."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT
from dealflow.model.plan import PlanName
from dealflow.store.automation import StaleDefinition

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def _rule(rule_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": rule_id,
        "name": f"Rule {rule_id}",
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}],
        **changes,
    }


def _on_plan(stack: MotoStack, plan: PlanName) -> None:
    stack.put_tenant(stack.automation.get_tenant(TENANT).model_copy(update={"plan": plan}))


def _usage(stack: MotoStack) -> dict[str, Any]:
    status, body = stack.api("GET", "/usage", claims=ANNA)
    assert status == 200, body
    return body


def _active(stack: MotoStack) -> list[str]:
    return sorted(a.id for a in stack.automation.load(TENANT).by_id.values() if a.enabled)


def test_usage_is_visible_to_every_role_and_moves_with_switching(stack: MotoStack) -> None:
    before = _usage(stack)
    assert before["plan"] == "business" and before["automation"]["limit"] == 100
    assert before["kinds"] == ["rule", "trigger", "tunnel", "business_process"]
    active = before["automation"]["active"]
    assert active == len(_active(stack)) and before["automation"]["available"] == 100 - active
    assert sum(before["by_kind"].values()) == active and before["by_kind"]["business_process"] == 0

    assert stack.api("PUT", "/automation/extra", _rule("extra"), claims=ADMIN)[0] == 201
    after = _usage(stack)
    assert after["automation"] == {"active": active + 1, "limit": 100, "available": 99 - active}
    assert after["by_kind"]["rule"] == before["by_kind"]["rule"] + 1

    assert stack.api("POST", "/automation/extra/disable", claims=ADMIN)[0] == 200
    assert _usage(stack)["automation"]["active"] == active


def test_at_the_cap_a_new_switched_on_rule_is_refused_and_nothing_is_written(stack: MotoStack) -> None:
    _on_plan(stack, PlanName.FREE)
    active = len(_active(stack))
    assert active > 5  # the demo tenant has more switched on than the free plan allows (a downgrade)
    assert _usage(stack)["automation"] == {"active": active, "limit": 5, "available": 0}
    version = stack.automation.get_tenant(TENANT).automation_version

    status, body = stack.api("PUT", "/automation/extra", _rule("extra"), claims=ADMIN)

    assert status == 403 and body["error"] == "plan_limit"
    assert body["limit"] == 5 and body["active"] == active
    assert body["reason"] == (f"free plan allows 5 active automations; {active} are active — switch one off or upgrade")
    assert "extra" not in stack.automation.load(TENANT).by_id
    assert stack.automation.get_tenant(TENANT).automation_version == version


def test_a_switched_off_rule_is_stored_but_cannot_be_switched_on_past_the_cap(stack: MotoStack) -> None:
    _on_plan(stack, PlanName.FREE)
    status, body = stack.api("PUT", "/automation/draft", _rule("draft", enabled=False), claims=ADMIN)
    assert status == 201 and body["enabled"] is False

    status, body = stack.api("POST", "/automation/draft/enable", claims=ADMIN)
    assert status == 403 and body["error"] == "plan_limit" and body["limit"] == 5
    assert stack.automation.load(TENANT).by_id["draft"].enabled is False

    # Replacing the draft with a switched-on copy is the same activation: refused too.
    status, body = stack.api("PUT", "/automation/draft", _rule("draft", version=1), claims=ADMIN)
    assert status == 403 and body["error"] == "plan_limit"

    # Switch enough off to get under the cap; then the draft may go on, and the next one may not.
    for automation_id in _active(stack)[: len(_active(stack)) - 4]:
        assert stack.api("POST", f"/automation/{automation_id}/disable", claims=ADMIN)[0] == 200
    assert _usage(stack)["automation"] == {"active": 4, "limit": 5, "available": 1}
    status, body = stack.api("POST", "/automation/draft/enable", claims=ADMIN)
    assert status == 200 and body["automation"]["enabled"] is True
    assert _usage(stack)["automation"] == {"active": 5, "limit": 5, "available": 0}

    status, body = stack.api("PUT", "/automation/one-more", _rule("one-more"), claims=ADMIN)
    assert status == 403 and body["active"] == 5


def test_editing_a_switched_on_rule_at_or_over_the_cap_is_allowed(stack: MotoStack) -> None:
    _on_plan(stack, PlanName.FREE)
    status, current = stack.api("GET", "/automation/lost-email", claims=ADMIN)
    assert current["enabled"] is True

    status, body = stack.api("PUT", "/automation/lost-email", {**current, "name": "Renamed"}, claims=ADMIN)

    assert status == 200 and body["name"] == "Renamed" and body["version"] == current["version"] + 1
    # Switching on what is already on adds nothing either.
    assert stack.api("POST", "/automation/lost-email/enable", claims=ADMIN)[0] == 200


def test_a_kind_the_plan_lacks_is_refused_even_switched_off(stack: MotoStack) -> None:
    _on_plan(stack, PlanName.TEAM)
    process = {
        "kind": "business_process",
        "id": "won-process",
        "name": "On won",
        "start_on": ["change"],
        "enabled": False,
        "nodes": [
            {"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}}
        ],
    }

    status, body = stack.api("PUT", "/automation/won-process", process, claims=ADMIN)

    assert status == 403 and body["error"] == "plan_limit"
    assert body["kind"] == "business_process" and body["plan"] == "team"
    assert "team plan does not include business_process" in body["reason"]
    assert "won-process" not in stack.automation.load(TENANT).by_id
    assert _usage(stack)["kinds"] == ["rule", "trigger", "tunnel"]

    _on_plan(stack, PlanName.BUSINESS)
    assert stack.api("PUT", "/automation/won-process", process, claims=ADMIN)[0] == 201


def test_switching_on_a_kind_the_plan_lost_after_a_downgrade_is_refused(stack: MotoStack) -> None:
    assert stack.api("POST", "/automation/won-to-delivery/disable", claims=ADMIN)[0] == 200
    _on_plan(stack, PlanName.FREE)  # free has no tunnels

    status, body = stack.api("POST", "/automation/won-to-delivery/enable", claims=ADMIN)

    assert status == 403 and body["kind"] == "tunnel" and body["plan"] == "free"
    assert stack.automation.load(TENANT).by_id["won-to-delivery"].enabled is False


def test_an_activation_decided_on_an_older_automation_version_is_not_written(stack: MotoStack) -> None:
    # What the API's check relies on when two administrators switch things on at once: the write
    # names the automation version the count was taken at, and any write since then wins.
    read = stack.automation.load(TENANT)
    assert stack.api("PUT", "/automation/first", _rule("first"), claims=ADMIN)[0] == 201
    second = read.by_id["lost-email"].model_copy(update={"id": "second", "name": "Second"})

    with pytest.raises(StaleDefinition):
        stack.automation.put_definition(TENANT, second, None, automation_version=read.version)
    assert "second" not in stack.automation.load(TENANT).by_id
