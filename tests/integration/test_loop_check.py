"""The design-time loop check: automation that can start each other in a circle is reported when
it is switched on (not refused; the runtime depth guard still applies)."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}

TUNNEL_A = {
    "kind": "tunnel",
    "id": "tunnel-a",
    "name": "Negotiation to delivery",
    "pipeline_id": "sales",
    "stage_id": "negotiation",
    "target_pipeline_id": "delivery",
    "target_stage_id": "in_delivery",
    "mode": "copy",
}
TUNNEL_B = {
    "kind": "tunnel",
    "id": "tunnel-b",
    "name": "Delivery to renewals",
    "pipeline_id": "delivery",
    "stage_id": "in_delivery",
    "target_pipeline_id": "renewals",
    "target_stage_id": "due",
    "mode": "move",
}
RULE_C = {
    "kind": "rule",
    "id": "rule-c",
    "name": "Renewal back to negotiation",
    "pipeline_id": "renewals",
    "stage_id": "due",
    "actions": [{"kind": "move_to_pipeline", "pipeline_id": "sales", "stage_id": "negotiation"}],
}
REASON = (
    "tunnel-a moves deals into delivery/in_delivery, which starts tunnel-b; "
    "tunnel-b moves deals into renewals/due, which starts rule-c; "
    "rule-c moves deals into sales/negotiation, which starts tunnel-a"
)


def _put(stack: MotoStack, automation: dict[str, Any]) -> dict[str, Any]:
    status, body = stack.api("PUT", f"/automation/{automation['id']}", automation, claims=ADMIN)
    assert status in (200, 201), body
    return body


def test_switching_on_the_last_link_of_a_cycle_reports_the_loop(stack: MotoStack) -> None:
    assert _put(stack, TUNNEL_A)["loop_warning"] is None
    assert _put(stack, TUNNEL_B)["loop_warning"] is None
    assert _put(stack, {**RULE_C, "enabled": False})["loop_warning"] is None

    status, body = stack.api("POST", "/automation/rule-c/enable", claims=ADMIN)

    assert status == 200 and body["automation"]["enabled"] is True  # reported, not refused
    assert body["loop_warning"]["members"] == ["rule-c", "tunnel-a", "tunnel-b"]
    assert "rule-c moves deals into sales/negotiation, which starts tunnel-a" in body["loop_warning"]["reason"]
    status, body = stack.api("GET", "/warnings", claims=ADMIN)
    from_c = REASON[REASON.index("rule-c moves") :] + "; " + REASON[: REASON.index("; rule-c")]
    assert status == 200 and body["loops"] == [{"members": ["rule-c", "tunnel-a", "tunnel-b"], "reason": from_c}]
    assert {i["automation_id"] for i in body["items"]} == {"rule-c", "tunnel-a", "tunnel-b"}


def test_creating_automation_enabled_that_closes_a_cycle_reports_it(stack: MotoStack) -> None:
    _put(stack, RULE_C)
    _put(stack, TUNNEL_B)

    body = _put(stack, TUNNEL_A)

    assert body["loop_warning"] == {"members": ["tunnel-a", "tunnel-b", "rule-c"], "reason": REASON}
    assert body["warnings"] == []


def test_a_switched_off_link_breaks_the_cycle(stack: MotoStack) -> None:
    _put(stack, TUNNEL_A)
    _put(stack, {**TUNNEL_B, "enabled": False})

    assert _put(stack, RULE_C)["loop_warning"] is None
    assert stack.api("GET", "/warnings", claims=ADMIN)[1] == {"items": [], "loops": []}


def test_a_field_update_that_starts_a_field_trigger_is_a_link(stack: MotoStack) -> None:
    assert (
        stack.api("PUT", "/fields/score", {"code": "score", "name": "Score", "kind": "number"}, claims=ADMIN)[0] == 201
    )
    _put(
        stack,
        {
            "kind": "rule",
            "id": "score-on-proposal",
            "name": "Score on proposal",
            "pipeline_id": "sales",
            "stage_id": "proposal",
            "actions": [{"kind": "update_fields", "values": {"score": {"value": 1}}}],
        },
    )

    body = _put(
        stack,
        {
            "kind": "trigger",
            "id": "score-to-proposal",
            "name": "Scored: proposal",
            "pipeline_id": "sales",
            "stage_id": "proposal",
            "event": "field_changed",
            "field": "score",
            "allow_backwards": True,
        },
    )

    assert body["loop_warning"]["members"] == ["score-to-proposal", "score-on-proposal"]
    assert (
        "score-on-proposal sets field 'score' in sales, which starts score-to-proposal"
        in (body["loop_warning"]["reason"])
    )
