"""Triggers on internal events (a field changed; a lead's linked deal won or lost) and leads that
follow their deals."""

from __future__ import annotations

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, demo_lead
from dealflow.model import FieldDefinition, Trigger


def test_a_lead_follows_its_deal_to_need_satisfied_when_the_deal_is_won(stack: MotoStack) -> None:
    stack.create_deal(demo_lead("lead-1", "Website for Northwind"))
    stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services", lead_id="lead-1"))
    stack.drain()
    assert stack.get_deal(TENANT, "lead-1").stage_id == "waiting"  # type: ignore[union-attr]

    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()

    lead = stack.get_deal(TENANT, "lead-1")
    assert lead is not None and lead.entity == "lead"
    assert (lead.pipeline_id, lead.stage_id) == ("leads", "need_satisfied")
    [run] = [r for r in stack.runs(TENANT, "lead-1") if r.automation_id == "lead-satisfied"]
    assert run.status == "completed" and run.started_by["event"] == "linked_deal_won"


def test_a_lead_is_rejected_when_its_deal_is_lost(stack: MotoStack) -> None:
    stack.create_deal(demo_lead("lead-2", "Laptops for Contoso"))
    stack.create_deal(demo_deal("d-2", "Laptop fleet", "48900.00", "products", lead_id="lead-2"))
    stack.move_deal(TENANT, "d-2", "lost")
    stack.drain()

    assert stack.get_deal(TENANT, "lead-2").stage_id == "rejected"  # type: ignore[union-attr]


def test_deals_without_a_lead_and_leads_of_other_deals_are_left_alone(stack: MotoStack) -> None:
    stack.create_deal(demo_lead("lead-3", "Untouched"))
    stack.create_deal(demo_deal("d-3", "No lead", "1.00", "products"))
    stack.move_deal(TENANT, "d-3", "won")
    stack.drain()

    assert stack.get_deal(TENANT, "lead-3").stage_id == "waiting"  # type: ignore[union-attr]
    assert [r for r in stack.runs(TENANT) if r.automation_kind == "trigger"] == []


def test_a_field_changed_trigger_moves_the_deal_forward_only(stack: MotoStack) -> None:
    stack.put_field(TENANT, FieldDefinition(code="contract_signed", name="Contract signed", kind="checkbox"))
    stack.put_automation(
        TENANT,
        Trigger(
            id="signed",
            name="Contract signed: negotiation",
            pipeline_id="sales",
            stage_id="negotiation",
            event="field_changed",
            field="contract_signed",
        ),
    )
    stack.create_deal(demo_deal("d-4", "Moves on", "1.00", "products"))
    stack.create_deal(demo_deal("d-5", "Already won", "1.00", "products"))
    stack.move_deal(TENANT, "d-5", "won")
    stack.drain()

    stack.update_deal(TENANT, "d-4", fields={"contract_signed": True})
    stack.update_deal(TENANT, "d-5", fields={"contract_signed": True})
    stack.drain()

    assert stack.get_deal(TENANT, "d-4").stage_id == "negotiation"  # type: ignore[union-attr]
    assert stack.get_deal(TENANT, "d-5").stage_id == "won"  # type: ignore[union-attr]
    [held] = [r for r in stack.runs(TENANT, "d-5") if r.automation_id == "signed"]
    assert held.steps[-1].detail["moved"] is False
    assert held.steps[-1].detail["reason"] == "already at or past stage 'negotiation'"


def test_a_trigger_allowed_to_go_back_moves_a_deal_backwards(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT,
        Trigger(
            id="reopen",
            name="Reopened",
            pipeline_id="sales",
            stage_id="negotiation",
            event="field_changed",
            field="title",
            allow_backwards=True,
        ),
    )
    stack.create_deal(demo_deal("d-6", "Won once", "1.00", "products"))
    stack.move_deal(TENANT, "d-6", "won")
    stack.drain()

    stack.update_deal(TENANT, "d-6", title="Won once, reopened")
    stack.drain()

    assert stack.get_deal(TENANT, "d-6").stage_id == "negotiation"  # type: ignore[union-attr]
