"""Sales tunnels between pipelines: copy or move, with conditions and delays, never twice."""

from __future__ import annotations

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Clause, CreateTask, Delay, Rule, Tunnel


def _won(stack: MotoStack, deal_id: str, what_we_sell: str = "services") -> None:
    stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", "12500.00", what_we_sell))
    stack.move_deal(TENANT, deal_id, "won")
    stack.drain()


def _copies(stack: MotoStack, deal_id: str) -> list:
    original = stack.get_deal(TENANT, deal_id)
    assert original is not None
    return [stack.get_deal(TENANT, copy_id) for copy_id in original.copy_ids]


def test_a_copy_tunnel_copies_the_deal_into_the_target_stage_and_links_both(stack: MotoStack) -> None:
    _won(stack, "d-1")

    original = stack.get_deal(TENANT, "d-1")
    [copy] = _copies(stack, "d-1")
    assert original is not None and copy is not None
    assert (original.pipeline_id, original.stage_id) == ("sales", "won")  # the original stays
    assert (copy.pipeline_id, copy.stage_id) == ("delivery", "kickoff")
    assert copy.copied_from_id == "d-1" and copy.id != "d-1"
    assert (copy.title, copy.amount, copy.fields, copy.responsible_id) == (
        original.title,
        original.amount,
        original.fields,
        original.responsible_id,
    )


def test_a_copy_tunnel_with_a_condition_copies_only_matching_deals(stack: MotoStack) -> None:
    _won(stack, "d-2", what_we_sell="products")

    assert _copies(stack, "d-2") == []
    assert [r.status for r in stack.runs(TENANT, "d-2") if r.automation_id == "won-to-delivery"] == ["not_started"]


def test_the_copy_is_not_duplicated_when_the_stream_record_comes_again(stack: MotoStack) -> None:
    _won(stack, "d-3")
    move = next(r for r in stack.delivered if r["eventName"] == "MODIFY" and r["dynamodb"]["Keys"]["id"]["S"] == "d-3")
    stack.runs_port._names.clear()  # even a run that starts again finds the copy it made

    stack.deliver([move])
    stack.drain()

    assert len(_copies(stack, "d-3")) == 1
    delivery = [run for run in stack.runs(TENANT) if run.automation_id == "won-to-delivery"]
    assert len(delivery) == 1


def test_a_move_tunnel_keeps_the_deal_and_runs_the_new_stage_rules(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT,
        Tunnel(
            id="lost-to-renewals",
            name="Lost deals: try again next year",
            pipeline_id="sales",
            stage_id="lost",
            target_pipeline_id="renewals",
            target_stage_id="due",
            mode="move",
        ),
    )
    stack.put_automation(
        TENANT,
        Rule(
            id="renewal-task",
            name="Renewal due: task",
            pipeline_id="renewals",
            stage_id="due",
            actions=[CreateTask(title="Renew {{ deal.title }}")],
        ),
    )
    stack.create_deal(demo_deal("d-4", "Comeback", "10.00", "products"))
    stack.move_deal(TENANT, "d-4", "lost")
    stack.drain()

    deal = stack.get_deal(TENANT, "d-4")
    assert deal is not None and (deal.pipeline_id, deal.stage_id) == ("renewals", "due")
    assert deal.version >= 3 and deal.created_at is not None  # same deal, its history goes on
    assert [t["title"] for t in stack.tasks(TENANT)] == ["Renew Comeback"]
    assert len(stack.emails()) == 2  # the lost e-mail still went out before the move (one message to each of two)


def test_a_tunnel_with_a_delay_moves_only_after_it_and_only_if_still_there(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT,
        Tunnel(
            id="slow",
            name="Stalled negotiation to renewals",
            pipeline_id="sales",
            stage_id="negotiation",
            target_pipeline_id="renewals",
            target_stage_id="due",
            mode="move",
            delay=Delay(days=30),
            condition=Clause(field="amount", op="gt", value=100),
        ),
    )
    for deal_id in ("d-5", "d-6"):
        stack.create_deal(demo_deal(deal_id, deal_id, "500.00", "services"))
        stack.move_deal(TENANT, deal_id, "negotiation")
    stack.drain()
    stack.advance(days=29)
    stack.move_deal(TENANT, "d-6", "won")
    stack.drain()

    stack.advance(days=2)

    assert stack.get_deal(TENANT, "d-5").pipeline_id == "renewals"  # type: ignore[union-attr]
    assert stack.get_deal(TENANT, "d-6").pipeline_id == "sales"  # type: ignore[union-attr]
