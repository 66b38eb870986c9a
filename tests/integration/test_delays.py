"""Delayed rules: durable waits, with time advanced by hand."""

from __future__ import annotations

from datetime import timedelta

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import CreateTask, Delay, FieldDefinition, Rule


def _proposal(stack: MotoStack, deal_id: str) -> None:
    stack.create_deal(demo_deal(deal_id, f"Proposal {deal_id}", "5200.00", "services", company="Litware"))
    stack.move_deal(TENANT, deal_id, "proposal")
    stack.drain()


def test_a_delayed_rule_waits_then_runs_after_its_delay(stack: MotoStack) -> None:
    _proposal(stack, "d-1")
    [run] = stack.runs(TENANT, "d-1")
    assert run.status == "waiting" and run.wake_at is not None

    stack.advance(days=1, hours=23)
    assert stack.emails() == [] and stack.tasks(TENANT) == []

    stack.advance(hours=1)
    [email] = stack.emails()
    assert email.to == ["anna@acme.example"] and email.subject == "Follow up: Proposal d-1"
    [task] = stack.tasks(TENANT)
    assert task["title"] == "Call Nora North about Proposal d-1" and task["assignee_id"] == "u-anna"
    [run] = stack.runs(TENANT, "d-1")
    assert run.status == "completed"
    assert [s.name for s in run.steps] == ["delay", "check", "action-1-send_email", "action-2-create_task"]


def test_a_delayed_rule_does_not_run_if_the_deal_left_the_stage(stack: MotoStack) -> None:
    _proposal(stack, "d-2")
    stack.move_deal(TENANT, "d-2", "negotiation")
    stack.drain()

    stack.advance(days=3)

    assert stack.emails() == [] and stack.tasks(TENANT) == []
    [run] = [r for r in stack.runs(TENANT, "d-2") if r.automation_id == "proposal-follow-up"]
    assert run.status == "skipped"
    assert run.reason == "the deal left stage 'proposal' before the delay ended (now in 'negotiation')"


def test_a_deal_that_leaves_and_comes_back_waits_anew(stack: MotoStack) -> None:
    _proposal(stack, "d-3")
    stack.advance(days=1)
    stack.move_deal(TENANT, "d-3", "negotiation")
    stack.drain()
    stack.move_deal(TENANT, "d-3", "proposal")
    stack.drain()

    stack.advance(days=1)  # the first wait ends: the deal is back in the stage, so it runs
    assert len(stack.emails()) == 1
    stack.advance(days=1)  # the second wait ends too: it is a separate entry into the stage
    assert len(stack.emails()) == 2


def test_a_delay_relative_to_a_date_field(stack: MotoStack) -> None:
    stack.put_field(TENANT, FieldDefinition(code="deadline", name="Deadline", kind="date"))
    stack.put_rule(
        TENANT,
        Rule(
            id="before-deadline",
            name="Day before the deadline",
            pipeline_id="sales",
            stage_id="negotiation",
            delay=Delay(days=-1, relative_to_field="deadline"),
            actions=[CreateTask(title="Deadline tomorrow: {{ deal.title }}")],
        ),
    )
    deadline = stack.clock.now().date() + timedelta(days=5)
    stack.create_deal(
        demo_deal("d-4", "Tender", "1.00", "services").model_copy(
            update={"fields": {"what_we_sell": "services", "deadline": deadline.isoformat()}}
        )
    )
    stack.move_deal(TENANT, "d-4", "negotiation")
    stack.drain()

    stack.advance(days=3)
    assert stack.tasks(TENANT) == []
    stack.advance(days=1)
    assert [t["title"] for t in stack.tasks(TENANT)] == ["Deadline tomorrow: Tender"]


def test_a_rule_whose_delay_cannot_be_worked_out_fails_with_a_step_and_a_reason(stack: MotoStack) -> None:
    stack.put_field(TENANT, FieldDefinition(code="deadline", name="Deadline", kind="date"))
    stack.put_rule(
        TENANT,
        Rule(
            id="before-deadline",
            name="Day before the deadline",
            pipeline_id="sales",
            stage_id="negotiation",
            delay=Delay(days=-1, relative_to_field="deadline"),
            actions=[CreateTask(title="Deadline tomorrow: {{ deal.title }}")],
        ),
    )
    stack.create_deal(demo_deal("d-5", "No deadline", "1.00", "services"))
    stack.move_deal(TENANT, "d-5", "negotiation")
    stack.drain()

    [run] = [r for r in stack.runs(TENANT, "d-5") if r.automation_id == "before-deadline"]
    assert run.status == "failed"
    assert run.reason == "delay: the deal's field 'deadline' is empty"
    assert [(s.name, s.kind, s.outcome) for s in run.steps] == [("delay", "wait", "failed")]
    assert stack.tasks(TENANT) == []


def _deadline_rule(stack: MotoStack, delay: Delay) -> None:
    stack.put_field(TENANT, FieldDefinition(code="deadline", name="Deadline", kind="date"))
    stack.put_rule(
        TENANT,
        Rule(
            id="after-deadline",
            name="After the deadline",
            pipeline_id="sales",
            stage_id="negotiation",
            delay=delay,
            actions=[CreateTask(title="Deadline passed: {{ deal.title }}")],
        ),
    )


def test_a_wait_worked_out_past_what_a_run_can_wait_fails_the_run_with_the_reason(stack: MotoStack) -> None:
    # Saved fine (30 days after a date), but this deal's deadline is 400 days away: AWS would refuse
    # the wait and end the execution; here, as there, the run ends failed and says why.
    _deadline_rule(stack, Delay(days=30, relative_to_field="deadline"))
    deadline = stack.clock.now() + timedelta(days=400)
    stack.create_deal(
        demo_deal("d-6", "Framework tender", "1.00", "services").model_copy(
            update={"fields": {"what_we_sell": "services", "deadline": deadline.date().isoformat()}}
        )
    )
    stack.move_deal(TENANT, "d-6", "negotiation")
    stack.drain()

    [run] = [r for r in stack.runs(TENANT, "d-6") if r.automation_id == "after-deadline"]
    assert run.status == "failed"
    assert run.reason is not None and run.reason.startswith("delay: it would end at ")
    assert run.reason.endswith("a run can wait at most 366 days (31,622,400 s) at a time")
    assert [(s.name, s.kind, s.outcome) for s in run.steps] == [("delay", "wait", "failed")]
    stack.advance(days=431)
    assert stack.tasks(TENANT) == []


def test_a_stored_delay_from_before_the_cap_fails_its_runs_rather_than_waiting_past_it(stack: MotoStack) -> None:
    # Written before saving refused it (the harness writes without the save-time budget).
    _deadline_rule(stack, Delay(days=400))
    stack.create_deal(demo_deal("d-7", "Long shot", "1.00", "services"))
    stack.move_deal(TENANT, "d-7", "negotiation")
    stack.drain()

    [run] = [r for r in stack.runs(TENANT, "d-7") if r.automation_id == "after-deadline"]
    assert run.status == "failed"
    assert run.reason is not None and ", 400 days from now; a run can wait at most 366 days" in run.reason
