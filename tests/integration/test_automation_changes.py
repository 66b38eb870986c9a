"""Editing automation: the next change sees it; runs already in flight keep what they started with."""

from __future__ import annotations

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, demo_rules


def _rule(rule_id: str):
    return next(r for r in demo_rules() if r.id == rule_id)


def test_a_switched_off_rule_stops_firing_from_the_next_change(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "First", "1.00", "products"))
    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()
    stack.put_rule(TENANT, _rule("won-notify-head").model_copy(update={"enabled": False}))
    stack.create_deal(demo_deal("d-2", "Second", "2.00", "products"))
    stack.move_deal(TENANT, "d-2", "won")
    stack.drain()

    assert [n.deal_id for n in stack.notifications()] == ["d-1"]


def test_an_edited_rule_applies_to_the_next_deal_but_not_to_a_run_waiting_on_its_delay(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Cloud audit", "5200.00", "services"))
    stack.move_deal(TENANT, "d-1", "proposal")
    stack.drain()
    follow_up = _rule("proposal-follow-up")
    edited = follow_up.actions[0].model_copy(update={"subject": "EDITED: {{ deal.title }}"})
    stack.put_rule(TENANT, follow_up.model_copy(update={"actions": [edited, *follow_up.actions[1:]]}))
    stack.create_deal(demo_deal("d-2", "Second audit", "5200.00", "services"))
    stack.move_deal(TENANT, "d-2", "proposal")
    stack.drain()

    stack.advance(days=2)

    assert sorted(e.subject for e in stack.emails()) == ["EDITED: Second audit", "Follow up: Cloud audit"]
