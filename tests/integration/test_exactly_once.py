"""At-least-once in, exactly-once out: redelivered records start nothing new and send nothing twice."""

from __future__ import annotations

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Rule, SendEmail, UpdateFields
from dealflow.model.automation import FieldValue, Recipients


def test_the_same_stream_record_delivered_twice_starts_one_run_and_sends_one_email(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "lost")
    stack.drain()
    [move_record] = [r for r in stack.delivered if r["eventName"] == "MODIFY"]

    response = stack.deliver([move_record])  # Lambda retries a batch it already processed
    stack.drain()

    assert response == {"batchItemFailures": []}
    assert len(stack.emails()) == 2  # the head of sales and the responsible, one message each
    assert len(stack.runs(TENANT, "d-1")) == 1


def test_a_redelivered_batch_in_a_fresh_container_still_sends_once(stack: MotoStack) -> None:
    """Even if the run itself started again (say the name guard were lost), the effect ledger
    refuses the second send: the e-mail's key is the run id plus the action's position."""
    stack.create_deal(demo_deal("d-2", "Laptop fleet", "48900.00", "products"))
    stack.move_deal(TENANT, "d-2", "lost")
    stack.drain()
    [run] = stack.runs(TENANT, "d-2")
    stack.runs_port._names.clear()  # a new local invoke port: no memory of started names

    stack.deliver([r for r in stack.delivered if r["eventName"] == "MODIFY"])
    stack.drain()

    assert len(stack.emails()) == 2  # one message to each of its two recipients, not four
    [again] = stack.runs(TENANT, "d-2")
    assert again.run_id == run.run_id
    assert again.steps[-1].outcome == "duplicate"


def test_an_automation_write_is_applied_once_per_run(stack: MotoStack) -> None:
    stack.put_rule(
        TENANT,
        Rule(
            id="negotiation-discount",
            name="Negotiation: 10% discount",
            pipeline_id="sales",
            stage_id="negotiation",
            actions=[
                UpdateFields(values={"amount": FieldValue(expression="deal.amount * 0.9")}),
                SendEmail(to=Recipients(responsible=True), subject="New amount {{ deal.amount }}", body="-"),
            ],
        ),
    )
    stack.create_deal(demo_deal("d-3", "Discounted", "1000.00", "services"))
    stack.move_deal(TENANT, "d-3", "negotiation")
    stack.drain()
    stack.runs_port._names.clear()
    stack.deliver([r for r in stack.delivered if r["eventName"] == "MODIFY"][:1])
    stack.drain()

    deal = stack.get_deal(TENANT, "d-3")
    assert deal is not None and str(deal.amount) == "900.00"
    assert [e.subject for e in stack.emails()] == ["New amount 900.00"]
