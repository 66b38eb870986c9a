"""The one interpreter, on in-memory ports: rules, tunnels, triggers and business processes walk the
same node tree, wait, re-check, act, branch, loop and fail the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dealflow import clock
from dealflow.engine.changes import diff
from dealflow.engine.dispatch import plan_runs
from dealflow.engine.run_requests import run_request
from dealflow.language import templates
from dealflow.model import (
    BusinessProcess,
    Deal,
    FieldDefinition,
    Lead,
    Pipeline,
    Rule,
    RunRecord,
    RunRequest,
    Stage,
    StageEntry,
    Tenant,
    Trigger,
    Tunnel,
    User,
)
from dealflow.model.catalog import Automation
from dealflow.ports import record_id
from tests.fakes import FakeAutomation, FakeDeals, FakeDurable, FakeEngine

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = Tenant(
    id="t1",
    name="Example Ltd",
    users=[
        User(id="u-anna", name="Anna", email="anna@example.com"),
        User(id="u-head", name="Helena", email="helena@example.com"),
    ],
    constants={"crm_url": "https://crm.example.com"},
    variables={"commission_pct": {"type": "number", "value": "7.5"}},
)
PIPELINES = [
    Pipeline(
        id="sales",
        name="Sales",
        stages=[
            Stage(id="new", name="New"),
            Stage(id="proposal", name="Proposal"),
            Stage(id="negotiation", name="Negotiation"),
            Stage(id="won", name="Won", semantic="won"),
            Stage(id="lost", name="Lost", semantic="lost"),
        ],
    ),
    Pipeline(id="delivery", name="Delivery", stages=[Stage(id="kickoff", name="Kick-off")]),
    Pipeline(
        id="leads",
        name="Leads",
        entity="lead",
        stages=[Stage(id="waiting", name="Waiting"), Stage(id="satisfied", name="Need satisfied", semantic="won")],
    ),
]
FIELDS = [
    FieldDefinition(code="deadline", name="Deadline", kind="date"),
    FieldDefinition(code="what_we_sell", name="What we sell", kind="list", options=["services", "products"]),
]
EMAIL = {
    "kind": "send_email",
    "to": {"users": ["u-head"]},
    "subject": "Won: {{ deal.title }}",
    "body": "{{ deal.amount }} {{ deal.currency }}",
}
TASK = {"kind": "create_task", "title": "Call about {{ deal.title }}"}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(autouse=True)
def time() -> Iterator[Clock]:
    moments = Clock()
    clock.use(moments)
    yield moments
    clock.use(None)


def deal(**update: Any) -> Deal:
    values: dict[str, Any] = {
        "tenant_id": "t1",
        "id": "d-1",
        "pipeline_id": "sales",
        "stage_id": "won",
        "title": "Website",
        "amount": Decimal("1000.00"),
        "currency": "EUR",
        "responsible_id": "u-anna",
        "fields": {"what_we_sell": "services"},
    }
    return Deal(**{**values, **update})


def rule(actions: list[dict[str, Any]] | None = None, **extra: Any) -> Rule:
    values = {"id": "r1", "name": "Won deal", "pipeline_id": "sales", "stage_id": "won", "actions": actions or [EMAIL]}
    return Rule.model_validate({**values, **extra})


def process(nodes: list[dict[str, Any]], **extra: Any) -> BusinessProcess:
    values = {"id": "p1", "name": "Deal outcome", "start_on": ["change"], "nodes": nodes}
    return BusinessProcess.model_validate({**values, **extra})


def action(spec: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {"kind": "action", "action": spec, **({"name": name} if name else {})}


def engine(automation: Automation, *items: Deal) -> FakeEngine:
    return FakeEngine(FakeAutomation(TENANT, PIPELINES, FIELDS, [automation]), FakeDeals(*(items or (deal(),))))


def request(automation: Automation, item: Deal | None = None, **extra: Any) -> RunRequest:
    item = item or deal()
    entry = StageEntry(pipeline_id=item.pipeline_id, stage_id=item.stage_id, event=extra.pop("event", None))
    started_by = entry.model_dump(exclude_none=True)
    return run_request(item, automation, "evt-1", started_by, run_id="run-1", **extra)


def steps(record: RunRecord) -> list[tuple[str, str, str]]:
    return [(s.name, s.kind, s.outcome) for s in record.steps]


def waiting(automation: Automation, *items: Deal) -> tuple[FakeEngine, FakeDurable]:
    """A run parked at its first wait."""
    found = engine(automation, *items)
    record, durable = found.run(request(automation, items[0] if items else None), FakeDurable(suspend_at_waits=True))
    assert record.status == "waiting"
    return found, durable


# --- Rules ---------------------------------------------------------------------------------------------------------


def test_a_rule_checks_the_deal_then_performs_its_actions_in_order() -> None:
    automation = rule([EMAIL, TASK])
    found = engine(automation)

    record, durable = found.run(request(automation))

    assert record.status == "completed" and record.finished_at is not None
    assert steps(record) == [
        ("check", "check", "passed"),
        ("action-1-send_email", "action", "done"),
        ("action-2-create_task", "action", "done"),
    ]
    assert durable.step_names == ["start", "action-1-send_email", "action-2-create_task"]
    assert durable.waits == []
    assert [(m["to"], m["subject"], m["body"]) for m in found.outbox.sent] == [
        (["helena@example.com"], "Won: Website", "1000.00 EUR")
    ]
    [task] = found.records.of("task")
    assert (task["title"], task["assignee_id"], task["id"]) == ("Call about Website", "u-anna", record_id("run-1:1"))
    assert found.runs.statuses("run-1") == ["running", "completed"]


def test_a_delayed_rule_waits_then_acts_and_its_replay_names_the_same_operations(time: Clock) -> None:
    automation = rule([EMAIL, TASK], delay={"days": 2})
    found, first = waiting(automation)
    assert found.runs.records["run-1"].wake_at == "2026-03-04T09:00:00.000+00:00"
    assert found.outbox.sent == []

    time.advance(days=2)
    record, replay = found.run(request(automation), first.replay())

    assert replay.operations[: len(first.operations)] == first.operations == [("step", "start"), ("wait", "delay")]
    assert replay.step_names == ["start", "check", "action-1-send_email", "action-2-create_task"]
    assert replay.waits == [("delay", 2 * 24 * 3600)]
    assert record.status == "completed"
    assert steps(record) == [
        ("delay", "wait", "waited"),
        ("check", "check", "passed"),
        ("action-1-send_email", "action", "done"),
        ("action-2-create_task", "action", "done"),
    ]
    assert record.steps[0].at == "2026-03-04T09:00:00.000+00:00"
    assert len(found.outbox.sent) == 1 and len(found.records.of("task")) == 1


def test_a_delay_relative_to_a_date_field_waits_until_that_moment() -> None:
    automation = rule(delay={"days": -1, "relative_to_field": "deadline"})
    item = deal(fields={"what_we_sell": "services", "deadline": "2026-03-10"})

    record, durable = engine(automation, item).run(request(automation, item))

    assert durable.waits == [("delay", int((datetime(2026, 3, 9, tzinfo=UTC) - NOW).total_seconds()))]
    assert record.steps[0].at == "2026-03-09T00:00:00.000+00:00"


def test_a_delay_whose_moment_has_passed_does_not_wait_and_says_so() -> None:
    automation = rule(delay={"days": -1, "relative_to_field": "deadline"})
    item = deal(fields={"what_we_sell": "services", "deadline": "2026-03-01"})

    record, durable = engine(automation, item).run(request(automation, item))

    assert durable.waits == []
    assert record.status == "completed"
    assert [(s.name, s.outcome, s.detail) for s in record.steps[:2]] == [
        ("delay", "waited", {"seconds": 0}),
        ("check", "passed", {}),
    ]


RECHECKS: list[tuple[str, Callable[[FakeEngine], None], str, str]] = [
    (
        "left the stage",
        lambda e: e.deals.put(e.deals.require("t1", "d-1").model_copy(update={"stage_id": "lost"})),
        "skipped",
        "the deal left stage 'won' before the delay ended (now in 'lost')",
    ),
    (
        "condition no longer holds",
        lambda e: e.deals.put(e.deals.require("t1", "d-1").model_copy(update={"fields": {"what_we_sell": "products"}})),
        "skipped",
        "the condition no longer held when the delay ended",
    ),
    (
        "switched off",
        lambda e: e.automation.switch("r1", enabled=False),
        "cancelled",
        "the automation was switched off while the run waited",
    ),
    ("deleted", lambda e: e.deals.delete("d-1"), "cancelled", "the deal was deleted"),
]


@pytest.mark.parametrize(("change", "status", "reason"), [r[1:] for r in RECHECKS], ids=[r[0] for r in RECHECKS])
def test_after_its_delay_a_rule_rechecks_and_stops_when_it_no_longer_applies(
    change: Callable[[FakeEngine], None], status: str, reason: str, time: Clock
) -> None:
    automation = rule(delay={"hours": 4}, condition={"field": "what_we_sell", "op": "equals", "value": "services"})
    found, first = waiting(automation)
    change(found)
    time.advance(hours=4)

    record, replay = found.run(request(automation), first.replay())

    assert (record.status, record.reason) == (status, reason)
    assert steps(record) == [("delay", "wait", "waited"), ("check", "check", status)]
    assert replay.step_names == ["start", "check"]
    assert found.outbox.sent == []


@pytest.mark.parametrize(
    ("amount_meanwhile", "status"), [(Decimal("1000.00"), "completed"), (Decimal("500.00"), "skipped")]
)
def test_a_delayed_rule_on_where_the_deal_came_from_rechecks_with_the_change_that_started_it(
    amount_meanwhile: Decimal, status: str, time: Clock
) -> None:
    """#18.3: re-checked after the wait, ``changed_from`` still sees the change that started the run
    (the request carries the previous stage), while the other values are the deal's as it is now."""
    came_from = {
        "all": [
            {"field": "stage_id", "op": "changed_from", "value": "negotiation"},
            {"field": "amount", "op": "gte", "value": 1000},
        ]
    }
    automation = rule([TASK], delay={"days": 1}, condition=came_from)
    found = engine(automation)
    [run] = plan_runs(diff(deal(stage_id="negotiation"), deal(version=2)), found.automation.load("t1"), "evt-1").runs
    record, first = found.run(run, FakeDurable(suspend_at_waits=True))
    assert record.status == "waiting"
    found.deals.put(deal(amount=amount_meanwhile, version=3))
    time.advance(days=1)

    record, _ = found.run(run, first.replay())

    assert record.status == status
    assert len(found.records.of("task")) == (1 if status == "completed" else 0)


def test_without_a_delay_the_check_does_not_recheck_the_stage() -> None:
    automation = rule()
    moved_on = deal(stage_id="lost")  # the dispatcher saw it enter "won"; a later write moved it on

    record, _ = engine(automation, moved_on).run(request(automation, deal()))

    assert record.status == "completed"


# --- Tunnels and triggers ------------------------------------------------------------------------------------------


def test_a_tunnel_copies_the_deal_with_its_one_action() -> None:
    tunnel = Tunnel(
        id="won-to-delivery",
        name="To delivery",
        pipeline_id="sales",
        stage_id="won",
        target_pipeline_id="delivery",
        target_stage_id="kickoff",
        mode="copy",
    )
    found = engine(tunnel)

    record, durable = found.run(request(tunnel))

    assert steps(record) == [("check", "check", "passed"), ("action-1-copy_to_pipeline", "action", "done")]
    original = found.deals.require("t1", "d-1")
    [copy] = [found.deals.require("t1", copy_id) for copy_id in original.copy_ids]
    assert (copy.pipeline_id, copy.stage_id, copy.copied_from_id) == ("delivery", "kickoff", "d-1")
    assert durable.step_names == ["start", "action-1-copy_to_pipeline"]


def _trigger(**extra: Any) -> Trigger:
    values = {"id": "tr1", "name": "Signed", "pipeline_id": "sales", "stage_id": "negotiation"}
    return Trigger.model_validate({**values, "event": "field_changed", "field": "what_we_sell", **extra})


def test_a_trigger_moves_the_deal_forward_to_its_stage() -> None:
    trigger = _trigger()
    item = deal(stage_id="proposal")
    found = engine(trigger, item)

    record, _ = found.run(request(trigger, item, event="field_changed"))

    assert steps(record) == [("check", "check", "passed"), ("action-1-move_to_stage", "action", "done")]
    assert found.deals.require("t1", "d-1").stage_id == "negotiation"


def test_a_trigger_skips_an_item_outside_its_pipeline() -> None:
    trigger = _trigger()
    item = deal(pipeline_id="delivery", stage_id="kickoff")

    record, _ = engine(trigger, item).run(request(trigger, item))

    assert (record.status, record.reason) == (
        "skipped",
        "the deal is in pipeline 'delivery', not the trigger's 'sales'",
    )


def test_a_trigger_for_a_lead_checks_its_condition_on_the_lead() -> None:
    trigger = Trigger(
        id="lead-satisfied",
        name="Linked deal won",
        pipeline_id="leads",
        stage_id="satisfied",
        event="linked_deal_won",
        condition={"field": "title", "op": "contains", "value": "VIP"},
    )
    lead = Lead(tenant_id="t1", id="lead-1", pipeline_id="leads", stage_id="waiting", title="Ordinary lead")
    won = deal(lead_id="lead-1")

    record, _ = engine(trigger, won, lead).run(request(trigger, won, target_id="lead-1"))

    assert (record.status, record.reason, record.deal_id) == (
        "skipped",
        "the trigger's condition does not hold",
        "lead-1",
    )


# --- Business processes -------------------------------------------------------------------------------------------

OUTCOME = [
    {
        "kind": "condition",
        "name": "Won or lost?",
        "branches": [
            {
                "name": "won",
                "condition": {"field": "stage_id", "op": "equals", "value": "won"},
                "nodes": [
                    {
                        "kind": "condition",
                        "branches": [
                            {
                                "name": "services",
                                "condition": {"field": "what_we_sell", "op": "equals", "value": "services"},
                                "nodes": [action(TASK)],
                            }
                        ],
                    },
                    action(EMAIL),
                ],
            },
            {
                "name": "lost",
                "condition": {"field": "stage_id", "op": "equals", "value": "lost"},
                "nodes": [action({"kind": "notify", "to": {"users": ["u-head"]}, "message": "Lost"}, "Tell the head")],
            },
        ],
        "otherwise": [action({**TASK, "title": "Still open"})],
    }
]


def test_a_process_takes_the_branches_whose_conditions_hold_and_names_steps_by_their_place() -> None:
    automation = process(OUTCOME)
    found = engine(automation)

    record, durable = found.run(request(automation))

    assert record.status == "completed"
    assert steps(record) == [
        ("check", "check", "passed"),
        ("Won or lost?", "condition", "branch 'won'"),
        ("n0.b0.n0", "condition", "branch 'services'"),
        ("n0.b0.n0.b0.n0-create_task", "action", "done"),
        ("n0.b0.n1-send_email", "action", "done"),
    ]
    assert durable.step_names == ["start", "n0.b0.n0.b0.n0-create_task", "n0.b0.n1-send_email", "finish"]
    [task] = found.records.of("task")
    assert task["id"] == record_id("run-1:n0.b0.n0.b0.n0")  # its effect key is its place in the tree


@pytest.mark.parametrize(
    ("item", "taken", "effect"),
    [
        (deal(stage_id="lost"), ("Won or lost?", "branch 'lost'"), ("Tell the head", "notification")),
        (deal(stage_id="new"), ("Won or lost?", "otherwise"), ("n0.o.n0-create_task", "task")),
        (deal(fields={"what_we_sell": "products"}), ("n0.b0.n0", "no branch"), ("n0.b0.n1-send_email", "email")),
    ],
)
def test_a_process_falls_through_to_the_next_branch_or_otherwise(
    item: Deal, taken: tuple[str, str], effect: tuple[str, str]
) -> None:
    automation = process(OUTCOME)
    found = engine(automation, item)

    record, _ = found.run(request(automation, item))

    assert taken in [(s.name, s.outcome) for s in record.steps]
    assert [s.name for s in record.steps if s.kind == "action"] == [effect[0]]
    sent = [m["kind"] for m in found.outbox.sent] + ["task"] * len(found.records.of("task"))
    assert sent == [effect[1]]


def test_a_process_sees_the_item_as_it_is_when_its_run_starts() -> None:
    """A run request names the item; the run reads it (it no longer carries the item as the change
    showed it: a large deal made the request too large for the runner's input)."""
    automation = process(OUTCOME)
    as_changed = deal()
    stored_since = deal(stage_id="lost")

    record, _ = engine(automation, stored_since).run(request(automation, as_changed))

    assert ("Won or lost?", "condition", "branch 'lost'") in steps(record)


def test_a_loop_repeats_while_its_condition_holds_each_turn_with_its_own_step_names() -> None:
    automation = process(
        [
            {
                "kind": "loop",
                "name": "three tasks",
                "while": {"field": "var.count", "op": "lt", "value": 3},
                "nodes": [
                    action({**TASK, "title": "Task {{ var.count }}"}),
                    {"kind": "set_variable", "variable": "count", "expression": "var.count + 1"},
                ],
            }
        ],
        variables={"count": {"type": "number", "value": 0}},
    )
    found = engine(automation)

    record, durable = found.run(request(automation))

    assert sorted(t["title"] for t in found.records.of("task")) == ["Task 0", "Task 1", "Task 2"]
    assert [n for n in durable.step_names if "create_task" in n] == [
        "n0.i0.n0-create_task",
        "n0.i1.n0-create_task",
        "n0.i2.n0-create_task",
    ]
    assert (record.steps[-1].name, record.steps[-1].outcome) == ("three tasks", "loop ended after 3 iteration(s)")


def test_a_loop_stops_at_its_cap_and_the_process_goes_on() -> None:
    automation = process(
        [
            {
                "kind": "loop",
                "name": "forever",
                "max_iterations": 4,
                "while": {"field": "title", "op": "is_not_empty"},
                "nodes": [{"kind": "set_variable", "variable": "n", "value": 1}],
            },
            action({**TASK, "title": "after the loop"}),
        ]
    )
    found = engine(automation)

    record, _ = found.run(request(automation))

    [stopped] = [s for s in record.steps if s.outcome == "loop stopped"]
    assert stopped.detail["reason"] == "reached its cap of 4 iterations while its condition still held"
    assert [s.name for s in record.steps].count("n0.i3.n0") == 1 and "n0.i4.n0" not in [s.name for s in record.steps]
    assert [t["title"] for t in found.records.of("task")] == ["after the loop"]
    assert record.status == "completed"


def test_set_variable_computes_a_value_later_nodes_see_and_may_set_the_tenants_variable() -> None:
    automation = process(
        [
            {"kind": "set_variable", "variable": "commission", "expression": "deal.amount * var.commission_pct / 100"},
            {"kind": "set_variable", "name": "Raise", "variable": "commission_pct", "value": "9", "scope": "tenant"},
            action({**TASK, "title": "Commission {{ var.commission | money }} at {{ var.commission_pct }} %"}),
        ]
    )
    found = engine(automation)

    record, durable = found.run(request(automation))

    assert [t["title"] for t in found.records.of("task")] == ["Commission 75.00 at 9 %"]
    assert found.automation.tenant.variables["commission_pct"].value == Decimal("9")
    assert durable.step_names == ["start", "n0-set", "n1-set", "n2-create_task", "finish"]
    assert [(s.name, s.outcome, s.detail["scope"]) for s in record.steps if s.outcome == "set"] == [
        ("n0", "set", "process"),
        ("Raise", "set", "tenant"),
    ]


def test_a_replay_after_a_wait_takes_the_value_set_variable_recorded(
    time: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An expression whose value differs each time it is evaluated (randomness, a clock) is
    evaluated once, in a step: the replay after the wait takes the same branch and step names."""
    automation = process(
        [
            {"kind": "set_variable", "variable": "pick", "expression": "deal.amount"},
            {"kind": "delay", "delay": {"days": 1}},
            {
                "kind": "condition",
                "branches": [
                    {
                        "name": "one",
                        "condition": {"field": "var.pick", "op": "equals", "value": 1},
                        "nodes": [action(TASK)],
                    }
                ],
                "otherwise": [action(EMAIL)],
            },
        ]
    )
    picks = iter([1, 2, 3, 4])
    monkeypatch.setattr(templates, "evaluate", lambda source, scope: next(picks))
    found, first = waiting(automation)
    time.advance(days=1)

    record, replay = found.run(request(automation), first.replay())

    assert record.status == "completed"
    assert replay.operations[: len(first.operations)] == first.operations
    assert "n2.b0.n0-create_task" in replay.step_names and found.outbox.sent == []
    assert [s.detail["value"] for s in record.steps if s.outcome == "set"] == ["1"]


def test_a_process_delay_rechecks_after_the_wait_and_stops_when_the_deal_is_gone(time: Clock) -> None:
    automation = process([action(TASK), {"kind": "delay", "delay": {"days": 3}}, action(EMAIL)])
    found, first = waiting(automation)
    assert first.operations == [
        ("step", "start"),
        ("step", "n0-create_task"),
        ("step", "n1-plan"),
        ("wait", "n1-delay"),
    ]
    found.deals.delete("d-1")
    time.advance(days=3)

    record, replay = found.run(request(automation), first.replay())

    assert (record.status, record.reason) == ("cancelled", "the deal was deleted")
    assert replay.step_names[-1] == "n1-check"
    assert steps(record)[-2:] == [("n1", "wait", "waited"), ("check", "check", "cancelled")]
    assert found.outbox.sent == [] and len(found.records.of("task")) == 1  # the task was not created again


# --- One walker: the acceptance test --------------------------------------------------------------------------------


def test_a_rule_and_a_process_made_of_the_same_nodes_run_the_same_steps_with_the_same_effects() -> None:
    """A rule with a delay and two actions, and a process with a delay node and the same two
    actions: after the process's entry check, step for step the same kinds, outcomes, details and
    effects. Only their names differ, as each kind names them."""
    delay = {"days": -2, "relative_to_field": "deadline"}
    item = deal(fields={"what_we_sell": "services", "deadline": "2026-03-20"})
    as_rule = rule([EMAIL, TASK], delay=delay)
    as_process = process([{"kind": "delay", "delay": delay}, action(EMAIL), action(TASK)])

    ran = {}
    for automation in (as_rule, as_process):
        found = engine(automation, item)
        record, durable = found.run(request(automation, item))
        ran[automation.kind] = (record, durable, found)
    (rule_run, rule_durable, rule_engine), (process_run, process_durable, process_engine) = ran.values()

    def shape(record: RunRecord) -> list[tuple[str, str, str | None, dict[str, Any]]]:
        # a task's id derives from its effect key, which is named after its step: leave it out
        return [(s.kind, s.outcome, s.at, {k: v for k, v in s.detail.items() if k != "id"}) for s in record.steps]

    assert rule_run.status == process_run.status == "completed"
    assert shape(process_run)[0][:2] == ("check", "passed")
    assert shape(process_run)[1:] == shape(rule_run)
    assert [s for _, s in rule_durable.waits] == [s for _, s in process_durable.waits] == [16 * 24 * 3600 - 9 * 3600]
    assert rule_engine.outbox.sent == process_engine.outbox.sent
    assert [{**t, "id": None} for t in rule_engine.records.of("task")] == [
        {**t, "id": None} for t in process_engine.records.of("task")
    ]
    assert [s.name for s in rule_run.steps] == ["delay", "check", "action-1-send_email", "action-2-create_task"]
    assert [s.name for s in process_run.steps] == ["check", "n0", "check", "n1-send_email", "n2-create_task"]


# --- Failures: each kind ends the run failed, with a step and a reason, for rules and processes alike -------------

NO_DEADLINE = {"days": -1, "relative_to_field": "deadline"}
TOO_LARGE = {**EMAIL, "body": "{{ 'a' * 10000000 }}"}
GONE = {"kind": "notify", "to": {"users": ["u-gone"]}, "message": "hi"}  # a user who left the tenant
FAILURES: list[tuple[str, Automation, set[str], tuple[str, str], str, str]] = [
    # id, automation, steps the engine gives up on, (failed step name, kind), reason starts with, last operation
    (
        "rule delay",
        rule(delay=NO_DEADLINE),
        set(),
        ("delay", "wait"),
        "delay: the deal's field 'deadline' is empty",
        "start",
    ),
    (
        "process delay",
        process([action(TASK), {"kind": "delay", "name": "Day before", "delay": NO_DEADLINE}, action(EMAIL)]),
        set(),
        ("Day before", "wait"),
        "Day before: the deal's field 'deadline' is empty",
        "n1-plan",
    ),
    (
        "rule template",
        rule([TOO_LARGE, TASK]),
        set(),
        ("action-1-send_email", "action"),
        "action-1-send_email: ",
        "action-1-send_email",
    ),
    (
        "process template",
        process([action(TOO_LARGE), action(TASK)]),
        set(),
        ("n0-send_email", "action"),
        "n0-send_email: ",
        "n0-send_email",
    ),
    (
        "process expression",
        process([{"kind": "set_variable", "variable": "x", "expression": "'a' * 10000000"}, action(TASK)]),
        set(),
        ("n0", "action"),
        "n0: ",
        "n0-failed",
    ),
    (
        "rule action",
        rule([GONE, TASK]),
        set(),
        ("action-1-notify", "action"),
        "action-1-notify: unknown user(s): u-gone",
        "action-1-notify",
    ),
    (
        "process action",
        process([action(GONE, "Tell them")]),
        set(),
        ("Tell them", "action"),
        "Tell them: unknown user(s): u-gone",
        "n0-notify",
    ),
    (
        "rule gave up",
        rule([EMAIL, TASK]),
        {"action-1-send_email"},
        ("action-1-send_email", "action"),
        "action-1-send_email: gave up",
        "failed",
    ),
    # The check after a wait is a step of its own (the first, with no wait before it, is the start step's).
    ("rule check gave up", rule(delay={"hours": 1}), {"check"}, ("check", "check"), "check: gave up", "failed"),
    (
        "process gave up",
        process(OUTCOME),
        {"n0.b0.n0.b0.n0-create_task"},
        ("n0.b0.n0.b0.n0-create_task", "action"),
        "n0.b0.n0.b0.n0-create_task: gave up",
        "n0.b0.n0.b0.n0-failed",
    ),
    ("start gave up", process(OUTCOME), {"start"}, ("start", "check"), "start: gave up", "failed"),
]


@pytest.mark.parametrize(
    ("automation", "give_up", "failed_step", "reason", "last_operation"),
    [f[1:] for f in FAILURES],
    ids=[f[0] for f in FAILURES],
)
def test_every_failure_ends_the_run_failed_with_a_step_and_a_reason(
    automation: Automation, give_up: set[str], failed_step: tuple[str, str], reason: str, last_operation: str
) -> None:
    found = engine(automation)

    record, durable = found.run(request(automation), FakeDurable(give_up=give_up))

    assert record.status == "failed" and record.finished_at is not None
    assert record.reason is not None and record.reason.startswith(reason)
    last = record.steps[-1]
    assert ((last.name, last.kind), last.outcome) == (failed_step, "failed")
    assert last.detail["error"] and record.reason == f"{last.name}: {last.detail['error']}"
    assert durable.step_names[-1] == last_operation
    assert found.outbox.sent == []  # nothing after the failure ran (and nothing failed was sent)
