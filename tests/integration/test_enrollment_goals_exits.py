"""Enrollment rules, goals and exits, through the stream on moto: a deal moving back and forth
between stages starts a rule as its enrollment rule says (also when its moves reach the dispatcher
in one batch), and a waiting run ends when its goal is met or an exit is taken, sending nothing."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import BusinessProcess, FieldDefinition, RunRecord
from dealflow.model.catalog import Automation

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
_AUTOMATION: TypeAdapter[Automation] = TypeAdapter(Automation)


def _rule(enrollment: dict[str, Any] | None = None, **extra: Any) -> Automation:
    body: dict[str, Any] = {
        "kind": "rule",
        "id": "negotiation-ping",
        "name": "Negotiation: tell Anna",
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "actions": [{"kind": "notify", "to": {"users": ["u-anna"]}, "message": "{{ deal.title }} in negotiation"}],
        **extra,
    }
    if enrollment is not None:
        body["enrollment"] = enrollment
    return _AUTOMATION.validate_python(body)


def _back_and_forth(stack: MotoStack, deal_id: str, entries: int, *, drain_each: bool = True) -> None:
    """The deal enters negotiation ``entries`` times, going back to proposal in between."""
    for turn in range(entries):
        if turn:
            stack.move_deal(TENANT, deal_id, "proposal")
        stack.move_deal(TENANT, deal_id, "negotiation")
        if drain_each:
            stack.drain()
    stack.drain()


def _pings(stack: MotoStack) -> list[str]:
    return [n.message for n in stack.notifications() if n.message.endswith("in negotiation")]


def _of(stack: MotoStack, status: str) -> list[RunRecord]:
    return [r for r in stack.runs_of(TENANT, "negotiation-ping") if r.status == status]


def _new_deal(stack: MotoStack, deal_id: str) -> None:
    stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", "900.00", "services"))
    stack.drain()


def test_without_an_enrollment_rule_every_entry_starts_the_rule(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule())
    _new_deal(stack, "e-1")

    _back_and_forth(stack, "e-1", 3)

    assert _pings(stack) == ["Deal e-1 in negotiation"] * 3
    assert _of(stack, "not_started") == []


def test_always_is_todays_behaviour(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule({"reenroll": "always"}))
    _new_deal(stack, "e-2")

    _back_and_forth(stack, "e-2", 3)

    assert len(_pings(stack)) == 3


def test_reenrollment_off_runs_once_per_deal_and_says_why_not_after(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule({"reenroll": "off"}))
    _new_deal(stack, "e-3")
    _new_deal(stack, "e-4")

    _back_and_forth(stack, "e-3", 3)
    _back_and_forth(stack, "e-4", 2)

    assert _pings(stack) == ["Deal e-3 in negotiation", "Deal e-4 in negotiation"]
    refused = [r for r in _of(stack, "not_started") if r.deal_id == "e-3"]
    day = stack.clock.now().date().isoformat()
    assert [r.reason for r in refused] == [f"re-enrollment off: already ran on {day}"] * 2
    assert refused[0].steps[0].name == "enrollment" and refused[0].steps[0].outcome == "not enrolled"


def test_reenrollment_off_holds_when_the_moves_arrive_in_one_batch(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule({"reenroll": "off"}))
    _new_deal(stack, "e-5")

    _back_and_forth(stack, "e-5", 4, drain_each=False)  # eight stream records, one dispatcher batch

    assert _pings(stack) == ["Deal e-5 in negotiation"]
    assert len(_of(stack, "not_started")) == 3


def test_a_redelivered_batch_starts_nothing_new_and_refuses_nothing_it_admitted(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule({"reenroll": "off"}))
    _new_deal(stack, "e-6")
    _back_and_forth(stack, "e-6", 1)
    entered = [r for r in stack.delivered if r["dynamodb"].get("NewImage", {}).get("stage_id") == {"S": "negotiation"}]

    stack.deliver(entered)  # the mapping delivers the record again
    stack.drain()

    assert len(_pings(stack)) == 1
    assert [r.status for r in stack.runs_of(TENANT, "negotiation-ping")] == ["completed"]


def test_reenrollment_after_a_cooldown(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule({"reenroll": "after", "cooldown": {"days": 7}}))
    _new_deal(stack, "e-7")

    _back_and_forth(stack, "e-7", 2)
    assert len(_pings(stack)) == 1
    [refused] = _of(stack, "not_started")
    assert refused.reason is not None and refused.reason.startswith("re-enrollment after 7 days: last ran on ")

    stack.advance(days=7)
    stack.move_deal(TENANT, "e-7", "proposal")
    _back_and_forth(stack, "e-7", 2)  # back once more (runs), and again at once (refused)
    assert len(_pings(stack)) == 2
    assert len(_of(stack, "not_started")) == 2


def test_a_frequency_cap_holds_with_the_deal_moving_back_and_forth(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule({"frequency_cap": {"runs": 2, "per": {"days": 7}}}))
    _new_deal(stack, "e-8")

    _back_and_forth(stack, "e-8", 4, drain_each=False)
    assert len(_pings(stack)) == 2
    assert {r.reason for r in _of(stack, "not_started")} == {"frequency cap 2 per 7 days reached"}

    stack.advance(days=7, minutes=1)
    stack.move_deal(TENANT, "e-8", "proposal")
    _back_and_forth(stack, "e-8", 3)
    assert len(_pings(stack)) == 4  # a new window: two more runs, the third entry in it refused
    assert len(_of(stack, "not_started")) == 3


def _follow_up(**extra: Any) -> Automation:
    return _AUTOMATION.validate_python(
        {
            "kind": "rule",
            "id": "proposal-follow-up",
            "name": "Proposal unanswered for 2 days: follow up",
            "pipeline_id": "sales",
            "stage_id": "proposal",
            "delay": {"days": 2},
            "actions": [
                {
                    "kind": "send_email",
                    "to": {"responsible": True},
                    "subject": "Follow up: {{ deal.title }}",
                    "body": "…",
                }
            ],
            **extra,
        }
    )


def test_a_goal_ends_a_waiting_rule_and_nothing_is_sent(stack: MotoStack) -> None:
    stack.put_field(TENANT, FieldDefinition(code="replied", name="Replied", kind="checkbox"))
    goal = {"name": "client replied", "condition": {"field": "replied", "op": "equals", "value": True}}
    stack.put_automation(TENANT, _follow_up(goal=goal))
    _new_deal(stack, "g-1")
    stack.move_deal(TENANT, "g-1", "proposal")
    stack.drain()
    [waiting] = stack.runs_of(TENANT, "proposal-follow-up")
    assert waiting.status == "waiting"

    stack.update_deal(TENANT, "g-1", fields={"what_we_sell": "services", "replied": True})
    stack.advance(days=2)

    assert stack.emails() == []
    [run] = stack.runs_of(TENANT, "proposal-follow-up")
    assert (run.status, run.reason) == ("goal_met", "goal met: client replied")
    assert run.steps[-1].outcome == "goal met" and run.steps[-1].detail["criterion"] == "client replied"
    status, listed = stack.api("GET", "/runs", claims=ADMIN, query={"status": "goal_met"})
    assert status == 200 and [r["run_id"] for r in listed["items"]] == [run.run_id]


def test_an_exit_ends_a_waiting_rule_naming_the_criterion(stack: MotoStack) -> None:
    exits = [{"when": "won"}, {"when": "lost"}]
    stack.put_automation(TENANT, _follow_up(exits=exits))
    _new_deal(stack, "x-1")
    stack.move_deal(TENANT, "x-1", "proposal")
    stack.drain()

    stack.move_deal(TENANT, "x-1", "lost")
    stack.advance(days=2)

    assert [e.subject for e in stack.emails() if e.subject.startswith("Follow up")] == []
    [run] = stack.runs_of(TENANT, "proposal-follow-up")
    assert (run.status, run.reason) == ("exited", "exited: lost (stage 'lost')")
    status, listed = stack.api("GET", "/runs", claims=ADMIN, query={"status": "exited"})
    assert status == 200 and [r["run_id"] for r in listed["items"]] == [run.run_id]


def _nurture(**extra: Any) -> BusinessProcess:
    return BusinessProcess.model_validate(
        {
            "id": "nurture",
            "name": "Nurture new deals",
            "start_on": ["add"],
            "pipeline_id": "sales",  # not the copies a won deal's tunnel makes in the delivery pipeline
            "nodes": [
                {"kind": "delay", "delay": {"days": 3}},
                {"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-anna"]}, "message": "nudge 1"}},
                {"kind": "delay", "delay": {"days": 3}},
                {"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-anna"]}, "message": "nudge 2"}},
            ],
            **extra,
        }
    )


def test_a_process_goal_ends_the_run_when_the_deal_is_won_between_waits(stack: MotoStack) -> None:
    won = {"name": "deal won", "condition": {"field": "stage_id", "op": "equals", "value": "won"}}
    stack.put_automation(TENANT, _nurture(goal=won))
    _new_deal(stack, "p-1")

    stack.advance(days=3)
    assert [n.message for n in stack.notifications() if n.message.startswith("nudge")] == ["nudge 1"]
    stack.move_deal(TENANT, "p-1", "won")
    stack.drain()
    stack.advance(days=3)

    assert [n.message for n in stack.notifications() if n.message.startswith("nudge")] == ["nudge 1"]
    [run] = stack.runs_of(TENANT, "nurture")
    assert (run.status, run.reason) == ("goal_met", "goal met: deal won")


def test_a_process_exits_when_the_deal_leaves_the_stage_it_started_in(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _nurture(exits=[{"when": "left_stage"}]))
    _new_deal(stack, "p-2")
    stack.move_deal(TENANT, "p-2", "proposal")
    stack.drain()

    stack.advance(days=3)

    assert [n.message for n in stack.notifications() if n.message.startswith("nudge")] == []
    [run] = stack.runs_of(TENANT, "nurture")
    assert (run.status, run.reason) == ("exited", "exited: left stage 'new' (now in 'proposal')")


def test_test_mode_says_whether_the_enrollment_rule_would_let_the_deal_start(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule({"reenroll": "off"}))
    _new_deal(stack, "t-1")

    before = stack.test_run(TENANT, "negotiation-ping", deal_id="t-1")
    _back_and_forth(stack, "t-1", 1)
    after = stack.test_run(TENANT, "negotiation-ping", deal_id="t-1")

    [would] = [s for s in before.steps if s.name == "enrollment"]
    assert would.outcome == "would start" and before.status == "completed"
    [would_not] = [s for s in after.steps if s.name == "enrollment"]
    day = stack.clock.now().date().isoformat()
    assert would_not.outcome == "would not start"
    assert (after.status, after.reason) == ("not_started", f"would not start: re-enrollment off: already ran on {day}")
    assert len(_pings(stack)) == 1  # the real run only: test runs enrol nobody and send nothing
    assert len(stack.runs_of(TENANT, "negotiation-ping")) == 1


def test_a_trigger_with_reenrollment_off_moves_a_deal_for_the_first_event_only(stack: MotoStack) -> None:
    trigger = _AUTOMATION.validate_python(
        {
            "kind": "trigger",
            "id": "form-to-negotiation",
            "name": "Web form: negotiate",
            "pipeline_id": "sales",
            "stage_id": "negotiation",
            "event": "web_form_submitted",
            "allow_backwards": True,
            "enrollment": {"reenroll": "off"},
        }
    )
    stack.put_automation(TENANT, trigger)
    stack.set_webhook_secret(TENANT, "whsec_acme_0123456789abcdef0123456789abcdef")
    _new_deal(stack, "w-1")

    first_status, first = stack.post_webhook(TENANT, {"id": "form-1", "kind": "web_form_submitted", "deal_id": "w-1"})
    stack.drain()
    stack.move_deal(TENANT, "w-1", "new")
    stack.drain()
    second_status, second = stack.post_webhook(TENANT, {"id": "form-2", "kind": "web_form_submitted", "deal_id": "w-1"})
    stack.drain()

    assert (first_status, len(first["runs"])) == (202, 1)
    assert (second_status, second["runs"]) == (202, [])
    [refused] = second["not_started"]
    assert refused["automation_id"] == "form-to-negotiation"
    assert refused["reason"].startswith("re-enrollment off: already ran on ")
    deal = stack.get_deal(TENANT, "w-1")
    assert deal is not None and deal.stage_id == "new"


def test_the_goal_is_checked_before_every_action_not_only_after_waits(stack: MotoStack) -> None:
    stack.put_field(TENANT, FieldDefinition(code="replied", name="Replied", kind="checkbox"))
    replied = {"name": "client replied", "condition": {"field": "replied", "op": "equals", "value": True}}
    process = BusinessProcess.model_validate(
        {
            "id": "mark-and-tell",
            "name": "Mark replied, then tell Anna",
            "start_on": ["add"],
            "pipeline_id": "sales",
            "goal": replied,
            "nodes": [
                {"kind": "delay", "delay": {"days": 1}},
                {"kind": "action", "action": {"kind": "update_fields", "values": {"replied": {"value": True}}}},
                {"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-anna"]}, "message": "told"}},
            ],
        }
    )
    stack.put_automation(TENANT, process)
    _new_deal(stack, "b-1")

    stack.advance(days=1)

    deal = stack.get_deal(TENANT, "b-1")
    assert deal is not None and deal.fields["replied"] is True  # the first action ran
    assert [n.message for n in stack.notifications() if n.message == "told"] == []  # the goal held before the second
    [run] = stack.runs_of(TENANT, "mark-and-tell")
    assert (run.status, run.reason) == ("goal_met", "goal met: client replied")
    assert [s.name for s in run.steps][-2:] == ["n1-update_fields", "check"]
