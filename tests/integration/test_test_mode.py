"""Test mode sends nothing and writes nothing, and shows exactly what would happen."""

from __future__ import annotations

from decimal import Decimal

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, demo_rules
from dealflow.model import CreateTask, Deal, Delay, Rule


def _table_items(stack: MotoStack) -> list[dict]:
    return stack.deals._table.scan()["Items"]


def test_test_mode_on_a_real_deal_sends_and_writes_nothing_but_shows_the_email(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services", company="Fabrikam"))
    stack.drain()
    before = _table_items(stack)
    runs_before = stack.runs(TENANT)

    result = stack.test_run(TENANT, "lost-email", deal_id="d-1")

    assert stack.emails() == [] and stack.notifications() == []
    assert _table_items(stack) == before
    assert stack.runs(TENANT) == runs_before
    assert result.test is True and result.status == "completed"
    [email] = [s for s in result.steps if s.name == "action-1-send_email"]
    assert email.detail["to"] == ["helena@acme.example", "anna@acme.example"]
    assert email.detail["subject"] == "Lost: Data migration (7300.00 EUR)"
    assert "https://crm.acme.example/crm/deal/show/d-1/" in email.detail["body"]


def test_test_mode_on_a_test_deal_shows_conditions_delays_and_field_values(stack: MotoStack) -> None:
    deal = Deal(
        tenant_id=TENANT,
        id="test-deal",
        pipeline_id="sales",
        stage_id="new",
        title="What if",
        amount=Decimal("100.00"),
        currency="EUR",
        responsible_id="u-anna",
        company="Test Co",
        fields={"what_we_sell": "products"},
    )
    follow_up = next(r for r in demo_rules() if r.id == "proposal-follow-up")

    result = stack.test_run(TENANT, follow_up, deal=deal)

    kinds = [(s.name, s.kind, s.outcome) for s in result.steps]
    assert kinds[0] == ("condition", "condition", "passed")
    assert ("delay", "wait", "would wait") in kinds
    [task] = [s for s in result.steps if s.name == "action-2-create_task"]
    assert task.detail["title"] == "Call  about What if"  # the test deal has no contact
    assert stack.get_deal(TENANT, "test-deal") is None and stack.tasks(TENANT) == []


def test_a_condition_that_fails_in_test_mode_says_on_which_value(stack: MotoStack) -> None:
    deal = demo_deal("d-2", "Products only", "1.00", "products")

    result = stack.test_run(TENANT, "won-services-workgroup", deal=deal)

    assert result.status == "skipped"
    [seen] = result.steps[0].detail["conditions"]
    assert (seen["field"], seen["actual"], seen["value"], seen["result"]) == (
        "what_we_sell",
        "products",
        "services",
        False,
    )


def test_test_runs_are_stored_and_listed_newest_first(stack: MotoStack) -> None:
    deal = demo_deal("d-3", "Listed", "1.00", "services")
    first = stack.test_run(TENANT, "won-notify-head", deal=deal)
    stack.advance(minutes=1)
    second = stack.test_run(TENANT, "won-services-workgroup", deal=deal)

    assert [r.run_id for r in stack.test_runs(TENANT)] == [second.run_id, first.run_id]
    assert stack.workgroups(TENANT) == [] and stack.notifications() == []


def test_run_log_for_a_run_that_fired_and_one_that_did_not(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-4", "Fires", "1.00", "services"))
    stack.create_deal(demo_deal("d-5", "Does not", "1.00", "products"))
    stack.move_deal(TENANT, "d-4", "won")
    stack.drain()
    stack.advance(minutes=1)
    stack.move_deal(TENANT, "d-5", "won")
    stack.drain()

    [not_fired, fired] = stack.runs_of(TENANT, "won-services-workgroup")  # newest first
    assert (fired.deal_id, fired.status) == ("d-4", "completed")
    assert fired.event_id and fired.started_by["stage_id"] == "won" and fired.finished_at
    assert (not_fired.deal_id, not_fired.status, not_fired.reason) == ("d-5", "not_started", "condition not met")


def test_a_draft_with_a_delay_is_tested_as_if_it_were_switched_on(stack: MotoStack) -> None:
    draft = Rule(
        id="draft-follow-up",
        name="Not saved yet",
        pipeline_id="sales",
        stage_id="proposal",
        enabled=False,
        delay=Delay(days=2),
        actions=[CreateTask(title="Follow up {{ deal.title }}")],
    )

    result = stack.test_run(TENANT, draft, deal=demo_deal("d-6", "Draft", "1.00", "services"))

    assert result.status == "completed"
    assert [(s.name, s.outcome) for s in result.steps] == [
        ("condition", "passed"),
        ("delay", "would wait"),
        ("check", "passed"),
        ("action-1-create_task", "done"),
    ]
    assert result.steps[-1].detail["title"] == "Follow up Draft" and stack.tasks(TENANT) == []
