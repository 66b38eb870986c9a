"""Business processes: the worked example end to end, every node kind, variables and constants."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import PROCESS_TENANT, demo_deal, set_up_process_tenant, worked_example
from dealflow.model import BusinessProcess

T = PROCESS_TENANT


@pytest.fixture
def globex() -> Iterator[MotoStack]:
    with MotoStack() as local:
        set_up_process_tenant(local)
        yield local


def _deal(deal_id: str, what: str = "services", amount: str = "12500.00"):
    return demo_deal(deal_id, f"Deal {deal_id}", amount, what).model_copy(update={"tenant_id": T})


def _close(stack: MotoStack, deal_id: str, stage: str, what: str = "services") -> None:
    stack.create_deal(_deal(deal_id, what))
    stack.drain()
    stack.move_deal(T, deal_id, stage)
    stack.drain()


def test_won_services_deal_gets_a_workgroup_and_the_head_of_sales_is_told(globex: MotoStack) -> None:
    _close(globex, "g-1", "won", "services")

    [group] = globex.workgroups(T)
    assert (group["name"], group["owner_id"], group["members"]) == ("Deal g-1", "u-anna", ["u-anna", "u-pm", "u-head"])
    [note] = globex.notifications()
    assert note.users == ["u-head"]
    assert note.message == "Won: Deal g-1, 12500.00 EUR (commission 937.50)"
    assert globex.emails() == []


def test_won_products_deal_is_only_announced(globex: MotoStack) -> None:
    _close(globex, "g-2", "won", "products")

    assert globex.workgroups(T) == []
    assert [n.message for n in globex.notifications()] == ["Won: Deal g-2, 12500.00 EUR (commission 937.50)"]


def test_lost_deal_emails_the_team_with_a_link_built_from_a_variable(globex: MotoStack) -> None:
    _close(globex, "g-3", "lost")

    email, other = globex.emails()  # globex e-mails its own people, one message each
    assert (email.to, other.to) == (["helena@globex.example"], ["anna@globex.example"])
    assert email.subject == "Lost: Deal g-3"
    assert email.body.endswith("Open it: https://crm.globex.example/crm/deal/show/g-3/")
    assert globex.notifications() == [] and globex.workgroups(T) == []


def test_the_branch_taken_and_the_values_seen_are_in_the_run_log(globex: MotoStack) -> None:
    _close(globex, "g-4", "won", "products")

    [run] = [r for r in globex.runs(T, "g-4") if r.started_by.get("event") == "changed"]
    assert run.status == "completed" and run.automation_kind == "business_process"
    decisions = {s.name: s for s in run.steps if s.kind == "condition"}
    assert decisions["Won or lost?"].outcome == "branch 'closed won'"
    assert decisions["What do we sell?"].outcome == "no branch"
    [seen] = decisions["What do we sell?"].detail["branches"][0]["conditions"]
    assert (seen["field"], seen["actual"], seen["result"]) == ("what_we_sell", "products", False)


def test_commission_is_exact_to_the_cent(globex: MotoStack) -> None:
    globex.create_deal(_deal("g-5", amount="1234.55"))
    globex.move_deal(T, "g-5", "won")
    globex.drain()

    deal = globex.get_deal(T, "g-5")
    assert deal is not None
    assert deal.fields["commission"] == Decimal("92.59125")  # 1234.55 * 7.5 %, no float on the way
    assert globex.notifications()[0].message.endswith("(commission 92.59)")


def _process(nodes: list, **extra) -> BusinessProcess:
    return BusinessProcess.model_validate(
        {"id": "p", "name": "Test process", "entity": "deal", "start_on": ["manual"], "nodes": nodes, **extra}
    )


def _manual(stack: MotoStack, process: BusinessProcess, deal_id: str = "m-1"):
    stack.put_automation(T, process)
    if stack.get_deal(T, deal_id) is None:
        stack.create_deal(_deal(deal_id))
        stack.drain()
    run_id = stack.start_process(T, process.id, deal_id)
    stack.drain()
    [run] = [r for r in stack.runs_of(T, process.id) if r.run_id == run_id]
    return run


def test_a_loop_repeats_while_its_condition_holds_with_a_variable_counter(globex: MotoStack) -> None:
    run = _manual(
        globex,
        _process(
            [
                {
                    "kind": "loop",
                    "name": "three tasks",
                    "while": {"field": "var.count", "op": "lt", "value": 3},
                    "nodes": [
                        {"kind": "action", "action": {"kind": "create_task", "title": "Task {{ var.count }}"}},
                        {"kind": "set_variable", "variable": "count", "expression": "var.count + 1"},
                    ],
                },
            ],
            variables={"count": {"type": "number", "value": 0}},
        ),
    )

    assert run.status == "completed"
    assert sorted(t["title"] for t in globex.tasks(T)) == ["Task 0", "Task 1", "Task 2"]
    assert run.steps[-1].outcome == "loop ended after 3 iteration(s)"


def test_a_loop_that_hits_its_cap_stops_with_a_logged_reason(globex: MotoStack) -> None:
    run = _manual(
        globex,
        _process(
            [
                {
                    "kind": "loop",
                    "name": "forever",
                    "max_iterations": 4,
                    "while": {"field": "title", "op": "is_not_empty"},
                    "nodes": [{"kind": "set_variable", "variable": "n", "value": 1}],
                },
                {"kind": "action", "action": {"kind": "create_task", "title": "after the loop"}},
            ]
        ),
    )

    [stopped] = [s for s in run.steps if s.name == "forever" and s.outcome == "loop stopped"]
    assert stopped.detail["reason"] == "reached its cap of 4 iterations while its condition still held"
    assert [t["title"] for t in globex.tasks(T)] == ["after the loop"]  # the process goes on after it


def test_a_condition_falls_through_to_otherwise(globex: MotoStack) -> None:
    run = _manual(
        globex,
        _process(
            [
                {
                    "kind": "condition",
                    "name": "size",
                    "branches": [
                        {"name": "big", "condition": {"field": "amount", "op": "gt", "value": 100000}, "nodes": []},
                        {"name": "medium", "condition": {"field": "amount", "op": "gt", "value": 50000}, "nodes": []},
                    ],
                    "otherwise": [{"kind": "action", "action": {"kind": "create_task", "title": "small deal"}}],
                }
            ]
        ),
    )

    assert run.steps[1].outcome == "otherwise"
    assert [t["title"] for t in globex.tasks(T)] == ["small deal"]


def test_a_delay_node_waits_and_a_tenant_variable_can_be_set(globex: MotoStack) -> None:
    run = _manual(
        globex,
        _process(
            [
                {"kind": "set_variable", "variable": "commission_pct", "value": "9", "scope": "tenant"},
                {"kind": "delay", "delay": {"days": 1}},
                {
                    "kind": "action",
                    "action": {"kind": "create_task", "title": "a day later at {{ var.commission_pct }} %"},
                },
            ]
        ),
    )
    assert run.status == "waiting" and globex.tasks(T) == []
    assert globex.automation.get_tenant(T).values("variables")["commission_pct"] == Decimal("9")

    globex.advance(days=1)

    assert [t["title"] for t in globex.tasks(T)] == ["a day later at 9 %"]
    [done] = globex.runs_of(T, "p")
    assert done.status == "completed"


def test_a_delay_that_cannot_be_worked_out_fails_the_process_with_a_step_and_a_reason(globex: MotoStack) -> None:
    run = _manual(
        globex,
        _process(
            [
                {"kind": "action", "action": {"kind": "create_task", "title": "before the delay"}},
                {
                    "kind": "delay",
                    "name": "Day before the proposal",
                    "delay": {"days": -1, "relative_to_field": "proposal_sent_on"},  # the deal has none
                },
                {"kind": "action", "action": {"kind": "create_task", "title": "never"}},
            ]
        ),
    )

    assert run.status == "failed" and run.finished_at is not None
    assert run.reason == "Day before the proposal: the deal's field 'proposal_sent_on' is empty"
    failed = run.steps[-1]
    assert (failed.name, failed.kind, failed.outcome) == ("Day before the proposal", "wait", "failed")
    assert [t["title"] for t in globex.tasks(T)] == ["before the delay"]


def test_an_edited_process_leaves_a_running_instance_on_its_old_version(globex: MotoStack) -> None:
    old = _process(
        [
            {"kind": "delay", "delay": {"hours": 2}},
            {"kind": "action", "action": {"kind": "create_task", "title": "version 1"}},
        ]
    )
    _manual(globex, old)
    new = old.model_copy(
        update={
            "version": 2,
            "nodes": [
                old.nodes[0],
                old.nodes[1].model_copy(
                    update={"action": old.nodes[1].action.model_copy(update={"title": "version 2"})}
                ),
            ],
        }
    )
    globex.put_automation(T, new)
    globex.start_process(T, "p", "m-1")
    globex.drain()

    globex.advance(hours=2)

    assert sorted(t["title"] for t in globex.tasks(T)) == ["version 1", "version 2"]


def test_switching_a_process_off_cancels_its_waiting_runs(globex: MotoStack) -> None:
    _manual(
        globex,
        _process(
            [
                {"kind": "delay", "delay": {"days": 3}},
                {"kind": "action", "action": {"kind": "create_task", "title": "never"}},
            ]
        ),
    )

    cancelled = globex.switch(T, "p", enabled=False)
    globex.advance(days=4)

    assert len(cancelled) == 1
    [run] = globex.runs_of(T, "p")
    assert run.status == "cancelled" and run.reason == "the automation was switched off"
    assert globex.tasks(T) == []


def test_deleting_the_deal_cancels_runs_waiting_on_it(globex: MotoStack) -> None:
    _manual(
        globex,
        _process(
            [
                {"kind": "delay", "delay": {"days": 3}},
                {"kind": "action", "action": {"kind": "create_task", "title": "never"}},
            ]
        ),
    )
    globex.delete_deal(T, "m-1")
    globex.drain()

    globex.advance(days=4)

    [run] = globex.runs_of(T, "p")
    assert run.status == "cancelled" and run.reason == "the deal was deleted"
    assert globex.tasks(T) == []


def test_a_process_only_for_manual_start_cannot_start_on_changes(globex: MotoStack) -> None:
    assert "manual" not in worked_example().start_on
    globex.create_deal(_deal("nope"))
    with pytest.raises(ValueError, match="not started by hand"):
        globex.start_process(T, "deal-outcome", "nope")


def test_a_manual_start_takes_typed_parameters_with_defaults(globex: MotoStack) -> None:
    process = _process(
        [{"kind": "action", "action": {"kind": "create_task", "title": "{{ var.reason }} within {{ var.days }} days"}}],
        parameters={"reason": {"type": "text", "value": "Call back"}, "days": {"type": "number", "value": 3}},
    )
    _manual(globex, process)
    globex.start_process(T, "p", "m-1", {"days": "5"})
    globex.drain()

    assert sorted(t["title"] for t in globex.tasks(T)) == ["Call back within 3 days", "Call back within 5 days"]
    with pytest.raises(ValueError, match="has no parameter colour"):
        globex.start_process(T, "p", "m-1", {"colour": "red"})
