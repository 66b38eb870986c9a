"""Automation that feeds itself stops at depth 8, with a run-log entry naming the chain."""

from __future__ import annotations

from dealflow.engine.compiled import MAX_DEPTH
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import MoveToStage, Rule, Tunnel


def _stopped(stack: MotoStack) -> list:
    return [r for r in stack.runs(TENANT) if r.reason and r.reason.startswith("automation loop stopped")]


def test_two_tunnels_feeding_each_other_stop_at_depth_8(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT,
        Tunnel(
            id="there",
            name="Negotiation to renewals",
            pipeline_id="sales",
            stage_id="negotiation",
            target_pipeline_id="renewals",
            target_stage_id="due",
            mode="move",
        ),
    )
    stack.put_automation(
        TENANT,
        Tunnel(
            id="back",
            name="Renewals back to negotiation",
            pipeline_id="renewals",
            stage_id="due",
            target_pipeline_id="sales",
            target_stage_id="negotiation",
            mode="move",
        ),
    )
    stack.create_deal(demo_deal("d-1", "Ping-pong", "1.00", "products"))
    stack.move_deal(TENANT, "d-1", "negotiation")
    report = stack.drain()

    moves = [r for r in stack.runs(TENANT, "d-1") if r.status == "completed"]
    assert len(moves) == MAX_DEPTH  # the person's move, then 7 automation moves … then no more
    [stopped] = _stopped(stack)
    assert stopped.deal_id == "d-1" and stopped.status == "skipped"
    assert "there → back → there" in (stopped.reason or "")
    assert report.runs_started == MAX_DEPTH


def test_a_rule_loop_between_two_stages_stops_too(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT,
        Rule(
            id="to-negotiation",
            name="Proposal → negotiation",
            pipeline_id="sales",
            stage_id="proposal",
            actions=[MoveToStage(stage_id="negotiation")],
        ),
    )
    stack.put_automation(
        TENANT,
        Rule(
            id="to-proposal",
            name="Negotiation → proposal",
            pipeline_id="sales",
            stage_id="negotiation",
            actions=[MoveToStage(stage_id="proposal")],
        ),
    )
    stack.create_deal(demo_deal("d-2", "Yo-yo", "1.00", "products"))
    stack.move_deal(TENANT, "d-2", "proposal")
    stack.drain()

    [stopped] = [r for r in _stopped(stack) if r.automation_id in {"to-negotiation", "to-proposal"}]
    assert stopped.reason is not None and "to-negotiation → to-proposal" in stopped.reason
    # the stage's other automation (the delayed follow-up) is stopped as well, and says so
    assert {r.automation_id for r in _stopped(stack)} <= {"to-negotiation", "to-proposal", "proposal-follow-up"}
    deal = stack.get_deal(TENANT, "d-2")
    assert deal is not None and deal.caused_by is not None and deal.caused_by.depth == MAX_DEPTH
