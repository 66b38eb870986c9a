"""A deal write that DynamoDB would refuse for its size (400 KB an item) is refused before the call,
and the run that tried says which limit it met and by how much."""

from __future__ import annotations

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import FieldDefinition, FieldValue, Rule, UpdateFields


def test_an_update_making_a_deal_larger_than_an_item_may_be_fails_its_run_naming_the_limit(stack: MotoStack) -> None:
    stack.put_field(TENANT, FieldDefinition(code="notes", name="Notes", kind="text"))
    stack.put_field(TENANT, FieldDefinition(code="history", name="History", kind="text"))
    stack.put_field(TENANT, FieldDefinition(code="copy_a", name="Copy A", kind="text"))
    stack.put_field(TENANT, FieldDefinition(code="copy_b", name="Copy B", kind="text"))
    stack.put_automation(
        TENANT,
        Rule(
            id="summarise",
            name="Keep two copies of the notes",
            pipeline_id="sales",
            stage_id="negotiation",
            actions=[
                UpdateFields(
                    values={
                        "copy_a": FieldValue(expression="deal.notes"),
                        "copy_b": FieldValue(expression="deal.notes"),
                    }
                )
            ],
        ),
    )
    # About 220 KB: its run request stays within a durable execution's 256 KB input.
    big = demo_deal("d-big", "Long notes", "1.00", "services")
    stack.create_deal(
        big.model_copy(update={"fields": {"what_we_sell": "services", "notes": "x" * 99_500, "history": "h" * 120_000}})
    )
    stack.move_deal(TENANT, "d-big", "negotiation")
    stack.drain()

    [run] = [r for r in stack.runs(TENANT, "d-big") if r.automation_id == "summarise"]
    assert run.status == "failed" and "DynamoDB stores at most 400,000 per item" in (run.reason or ""), run
    assert "copy_a" not in (stack.get_deal(TENANT, "d-big").fields or {})
