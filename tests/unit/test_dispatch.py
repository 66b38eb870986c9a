"""From one deal change to the runs it starts: which rules fire, which don't and why, and loops."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from dealflow.engine.changes import ChangeKind, DealChange, diff
from dealflow.engine.compiled import MAX_DEPTH, AutomationIndex, CompiledAutomation, TenantAutomation
from dealflow.engine.dispatch import plan_runs
from dealflow.engine.dispatcher import Dispatcher
from dealflow.engine.run_requests import run_id_for
from dealflow.model import Causation, Deal, Pipeline, Rule, RunRequest, Stage, Tenant, Trigger, User
from dealflow.store.items import to_item

SERIALIZE = TypeSerializer().serialize

TENANT = Tenant(id="t1", name="Example Ltd", users=[User(id="u1", name="Uma", email="uma@example.com")])
SALES = Pipeline(
    id="sales",
    name="Sales",
    stages=[
        Stage(id="new", name="New"),
        Stage(id="offer", name="Offer"),
        Stage(id="won", name="Won", semantic="won"),
        Stage(id="lost", name="Lost", semantic="lost"),
    ],
)
SUPPORT = Pipeline(id="support", name="Support", stages=[Stage(id="new", name="New"), Stage(id="won", name="Done")])


def rule(
    rule_id: str = "r-won",
    *,
    pipeline_id: str = "sales",
    stage_id: str = "won",
    enabled: bool = True,
    condition: dict[str, Any] | None = None,
) -> Rule:
    return Rule.model_validate(
        {
            "id": rule_id,
            "name": f"Rule {rule_id}",
            "pipeline_id": pipeline_id,
            "stage_id": stage_id,
            "enabled": enabled,
            "condition": condition,
            "actions": [{"kind": "notify", "to": {"responsible": True}, "message": "{{ deal.title }} won"}],
        }
    )


def automation(*rules: Rule | Trigger, tenant: Tenant = TENANT) -> TenantAutomation:
    return TenantAutomation(
        tenant=tenant,
        pipelines={"sales": SALES, "support": SUPPORT},
        fields={},
        index=AutomationIndex(rules),
        version=1,
    )


def deal(
    stage_id: str = "offer",
    *,
    pipeline_id: str = "sales",
    tenant_id: str = "t1",
    depth: int | None = None,
    version: int = 1,
    **extra: Any,
) -> Deal:
    caused = None if depth is None else Causation(run_id="run-x", automation_id="r-x", depth=depth)
    return Deal(
        tenant_id=tenant_id,
        id="d1",
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        title="Big deal",
        amount=extra.pop("amount", Decimal("5000")),
        responsible_id="u1",
        version=version,
        caused_by=caused,
        **extra,
    )


BIG = {"field": "amount", "op": "gte", "value": 1000}


# --- changes ---------------------------------------------------------------------------------------------


def test_diff_kinds_and_changed_fields() -> None:
    created = diff(None, deal())
    assert created.kind is ChangeKind.CREATED
    moved = diff(deal("offer"), deal("won", version=2, updated_at="later"))
    assert moved.kind is ChangeKind.UPDATED
    assert moved.changed_fields == frozenset({"stage_id"})  # bookkeeping (version, updated_at) is not a change
    assert diff(deal(), None).kind is ChangeKind.DELETED
    with pytest.raises(ValueError):
        diff(None, None)


def test_custom_field_edit_is_a_change_of_that_field() -> None:
    change = diff(deal(fields={"sells": "products"}), deal(fields={"sells": "services"}))
    assert change.changed_fields == frozenset({"sells"})
    assert change.stage_entry is None


# --- which rules fire ------------------------------------------------------------------------------------


def test_rule_fires_when_deal_enters_its_stage_and_condition_holds() -> None:
    won = rule(condition=BIG)
    old, new = deal("offer"), deal("won", version=2)
    plan = plan_runs(diff(old, new), automation(won), "evt-1")
    assert [r.automation.id for r in plan.runs] == ["r-won"]
    run = plan.runs[0]
    assert isinstance(run, RunRequest)
    assert (run.deal_id, run.deal_version, run.entity) == (new.id, 2, "deal")
    assert run.tenant_id == "t1" and run.event_id == "evt-1"
    assert (run.automation.id, run.automation.version, run.automation.kind) == ("r-won", won.version, "rule")
    assert run.started_by.model_dump() == {
        "pipeline_id": "sales",
        "stage_id": "won",
        "from_pipeline_id": "sales",
        "from_stage_id": "offer",
        "event": None,
    }
    assert run.depth == 1
    assert run.run_id == run_id_for("evt-1", "r-won")
    assert plan.not_started == [] and plan.loop_stopped == []


def test_planned_request_survives_the_trip_to_the_runner() -> None:
    # requests are built without re-validation; the runner validates the JSON it receives
    plan = plan_runs(diff(deal("offer"), deal("won", depth=3)), automation(rule(condition=BIG)), "evt-1")
    sent = plan.runs[0].model_dump(mode="json")
    received = RunRequest.model_validate(sent)
    assert received.run_id == plan.runs[0].run_id and received.depth == 4
    assert received == plan.runs[0]


def test_rule_without_condition_fires() -> None:
    plan = plan_runs(diff(deal("offer"), deal("won")), automation(rule()), "evt-1")
    assert len(plan.runs) == 1


def test_rule_does_not_fire_when_condition_fails_and_says_why() -> None:
    small = deal("won", amount=Decimal("500"))
    plan = plan_runs(diff(deal("offer", amount=Decimal("500")), small), automation(rule(condition=BIG)), "evt-1")
    assert plan.runs == []
    assert plan.loop_stopped == []
    [why] = plan.not_started
    assert why.automation.id == "r-won"
    assert why.reason == "condition not met"
    assert why.trace() == [{"field": "amount", "op": "gte", "value": 1000, "actual": Decimal("500"), "result": False}]


def test_condition_can_see_the_stage_change() -> None:
    came_from_offer = rule(condition={"field": "stage_id", "op": "changed_from", "value": "offer"})
    assert len(plan_runs(diff(deal("offer"), deal("won")), automation(came_from_offer), "e").runs) == 1
    assert plan_runs(diff(deal("new"), deal("won")), automation(came_from_offer), "e").runs == []


def test_field_only_edit_without_stage_change_starts_nothing() -> None:
    old, new = deal("won", amount=Decimal("500")), deal("won", amount=Decimal("5000"), version=2)
    plan = plan_runs(diff(old, new), automation(rule(condition=BIG)), "evt-1")
    assert plan.runs == [] and plan.not_started == [] and plan.loop_stopped == []


def test_disabled_rule_does_not_fire() -> None:
    plan = plan_runs(diff(deal("offer"), deal("won")), automation(rule(enabled=False)), "evt-1")
    assert plan.runs == [] and plan.not_started == []


@pytest.mark.parametrize(("pipeline_id", "stage_id"), [("sales", "lost"), ("support", "won"), ("sales", "offer")])
def test_rule_of_another_stage_or_pipeline_does_not_fire(pipeline_id: str, stage_id: str) -> None:
    other = rule(pipeline_id=pipeline_id, stage_id=stage_id)
    plan = plan_runs(diff(deal("offer"), deal("won")), automation(other), "evt-1")
    assert plan.runs == [] and plan.not_started == []


def test_same_stage_id_in_another_pipeline_is_a_different_stage() -> None:
    support_won = rule("r-support", pipeline_id="support", stage_id="won")
    sales_won = rule("r-sales")
    plan = plan_runs(diff(deal("won"), deal("won", pipeline_id="support")), automation(support_won, sales_won), "e")
    assert [r.automation.id for r in plan.runs] == ["r-support"]
    assert plan.runs[0].started_by.from_pipeline_id == "sales"


def test_fires_on_creation_directly_into_the_stage() -> None:
    plan = plan_runs(diff(None, deal("won")), automation(rule(condition=BIG)), "evt-1")
    assert [r.automation.id for r in plan.runs] == ["r-won"]
    assert plan.runs[0].started_by.model_dump() == {
        "pipeline_id": "sales",
        "stage_id": "won",
        "from_pipeline_id": None,
        "from_stage_id": None,
        "event": None,
    }


def test_creation_into_another_stage_starts_nothing() -> None:
    assert plan_runs(diff(None, deal("new")), automation(rule()), "evt-1").runs == []


def test_deleted_deal_starts_nothing() -> None:
    plan = plan_runs(diff(deal("won"), None), automation(rule()), "evt-1")
    assert plan.runs == [] and plan.not_started == [] and plan.loop_stopped == []


def test_several_rules_on_one_stage_each_decide_for_themselves() -> None:
    rules = [
        rule("a"),
        rule("b", condition={"field": "amount", "op": "gt", "value": 100000}),
        rule("c"),
        rule("d", enabled=False),
    ]
    plan = plan_runs(diff(deal("offer"), deal("won")), automation(*rules), "evt-1")
    assert [r.automation.id for r in plan.runs] == ["a", "c"]
    assert [n.automation.id for n in plan.not_started] == ["b"]
    assert len({r.run_id for r in plan.runs}) == 2


def test_index_lookup() -> None:
    index = AutomationIndex([rule("a"), rule("b", stage_id="lost"), rule("c", enabled=False)])
    found = index.on_stage("sales", "won")
    assert [c.automation.id for c in found] == ["a"]
    assert isinstance(found[0], CompiledAutomation)
    assert index.on_stage("sales", "new") == ()
    assert index.on_stage("nope", "won") == ()


# --- run ids --------------------------------------------------------------------------------------------

DURABLE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_run_id_is_deterministic() -> None:
    assert run_id_for("evt-1", "r1") == run_id_for("evt-1", "r1")


def test_run_id_differs_across_events_and_rules() -> None:
    ids = {run_id_for(e, r) for e in ("evt-1", "evt-2") for r in ("r1", "r2")}
    assert len(ids) == 4
    # the separator keeps ("ab", "c") and ("a", "bc") apart
    assert run_id_for("ab", "c") != run_id_for("a", "bc")


@pytest.mark.parametrize("event_id", ["evt-1", "x" * 200, "4a7c:shardId-0001/ü é\n", ""])
def test_run_id_fits_durable_execution_name(event_id: str) -> None:
    run_id = run_id_for(event_id, "rule.with:odd-chars_1")
    assert DURABLE_NAME.match(run_id), run_id


# --- loops ----------------------------------------------------------------------------------------------


def test_change_by_automation_at_max_depth_is_stopped() -> None:
    assert MAX_DEPTH == 8
    change = diff(deal("offer", depth=7), deal("won", depth=8))
    plan = plan_runs(change, automation(rule()), "evt-1")
    assert plan.loop_stopped  # the rules it would have started, for the loop report
    assert [c.automation.id for c in plan.loop_stopped] == ["r-won"]
    assert plan.runs == [] and plan.not_started == []


def test_change_by_automation_below_max_depth_runs_one_level_deeper() -> None:
    plan = plan_runs(diff(deal("offer", depth=6), deal("won", depth=7)), automation(rule()), "evt-1")
    assert plan.loop_stopped == []
    assert [r.depth for r in plan.runs] == [8]


def test_persons_change_runs_at_depth_one() -> None:
    # a person's write clears caused_by, whatever the old image carried
    plan = plan_runs(diff(deal("offer", depth=7), deal("won")), automation(rule()), "evt-1")
    assert [r.depth for r in plan.runs] == [1]


def test_deep_change_into_a_stage_without_rules_is_not_reported_as_a_loop() -> None:
    plan = plan_runs(diff(deal("offer", depth=9), deal("lost", depth=9)), automation(rule()), "evt-1")
    assert plan.loop_stopped == [] and plan.runs == []


# --- the dispatcher --------------------------------------------------------------------------------------


class FakeStarter:
    def __init__(self) -> None:
        self.requests: list[RunRequest] = []
        self.names: set[str] = set()

    def start(self, request: RunRequest) -> bool:
        self.requests.append(request)
        if request.run_id in self.names:
            return False
        self.names.add(request.run_id)
        return True


class FakeLoader:
    def __init__(self, *rules: Rule) -> None:
        self.rules = rules
        self.calls: list[str] = []

    def __call__(self, tenant_id: str) -> TenantAutomation:
        self.calls.append(tenant_id)
        return automation(*self.rules, tenant=TENANT.model_copy(update={"id": tenant_id}))


class FakeLog:
    """Collects what the dispatcher would write to the run log."""

    def __init__(self, loops: list[tuple[DealChange, str, Any]]) -> None:
        self.loops = loops
        self.not_started_entries: list[dict[str, Any]] = []

    def loop_stopped(self, change: DealChange, event_id: str, stopped: Any) -> None:
        self.loops.append((change, event_id, stopped))

    def not_started(self, change: DealChange, event_id: str, entries: Any) -> None:
        self.not_started_entries.extend(entries)

    def flush(self) -> set[str]:
        return set()


def image(item: Deal | None) -> dict[str, Any] | None:
    """An item as DealsTable's stream record carries it (DynamoDB JSON)."""
    return None if item is None else {k: SERIALIZE(v) for k, v in to_item(item).items()}


def handle(d: Dispatcher, old: Deal | None, new: Deal | None, event_id: str) -> list[str]:
    return d.handle(image(old), image(new), event_id)


def dispatcher(*rules: Rule) -> tuple[Dispatcher, FakeLoader, FakeStarter, list[tuple[DealChange, str, Any]]]:
    loader, starter, loops = FakeLoader(*rules), FakeStarter(), []
    return Dispatcher(loader, starter, FakeLog(loops)), loader, starter, loops


def test_dispatcher_starts_the_runs_a_change_calls_for() -> None:
    d, _, starter, _ = dispatcher(rule())
    started = handle(d, deal("offer"), deal("won"), "evt-1")
    assert started == [run_id_for("evt-1", "r-won")]
    assert [r.automation.id for r in starter.requests] == ["r-won"]


def test_same_record_handled_twice_starts_one_run() -> None:
    d, _, starter, _ = dispatcher(rule())
    old, new = deal("offer"), deal("won", version=2)
    first = handle(d, old, new, "evt-1")
    second = handle(d, old, new, "evt-1")
    assert len(first) == 1 and second == []
    assert len(starter.names) == 1
    assert starter.requests[0].run_id == starter.requests[1].run_id


def test_another_record_starts_another_run() -> None:
    d, _, starter, _ = dispatcher(rule())
    handle(d, deal("offer"), deal("won"), "evt-1")
    handle(d, deal("offer"), deal("won"), "evt-2")
    assert len(starter.names) == 2


def test_loader_called_once_per_tenant_per_batch() -> None:
    d, loader, _, _ = dispatcher(rule())
    d.new_batch()
    for i in range(3):
        handle(d, deal("offer"), deal("won"), f"evt-a{i}")
        handle(d, deal("offer", tenant_id="t2"), deal("won", tenant_id="t2"), f"evt-b{i}")
    assert sorted(loader.calls) == ["t1", "t2"]
    d.new_batch()
    handle(d, deal("offer"), deal("won"), "evt-next")
    assert sorted(loader.calls) == ["t1", "t1", "t2"]


def test_deletion_and_bookkeeping_only_writes_do_not_load_automation() -> None:
    d, loader, starter, _ = dispatcher(rule())
    assert handle(d, deal("won"), None, "evt-1") == []
    assert handle(d, deal("won"), deal("won", version=2, updated_at="later"), "evt-2") == []
    assert loader.calls == [] and starter.requests == []


def test_field_edit_starts_no_stage_rule() -> None:
    d, _, starter, _ = dispatcher(rule())
    assert handle(d, deal("won"), deal("won", amount=Decimal("1")), "evt-1") == []
    assert starter.requests == []


def test_dispatcher_reports_a_stopped_loop_and_starts_nothing() -> None:
    d, _, starter, loops = dispatcher(rule())
    assert handle(d, deal("offer", depth=7), deal("won", depth=MAX_DEPTH), "evt-1") == []
    assert starter.requests == []
    assert len(loops) == 1
    change, event_id, rules = loops[0]
    assert event_id == "evt-1" and change.depth == MAX_DEPTH
    assert [c.automation.id for c in rules] == ["r-won"]


def test_dispatcher_does_not_start_when_condition_fails() -> None:
    d, _, starter, loops = dispatcher(rule(condition=BIG))
    assert handle(d, deal("offer", amount=Decimal("1")), deal("won", amount=Decimal("1")), "evt-1") == []
    assert starter.requests == [] and loops == []


# --- field triggers (a field changed) ----------------------------------------------------------------------


def field_trigger(field: str = "amount", pipeline_id: str = "sales") -> Trigger:
    return Trigger(
        id=f"t-{field}-{pipeline_id}",
        name="On amount",
        pipeline_id=pipeline_id,
        stage_id="offer",
        event="field_changed",
        field=field,
    )


def test_field_trigger_starts_on_an_edit_of_its_field() -> None:
    change = diff(deal("new", amount=Decimal("1")), deal("new", amount=Decimal("2")))
    plan = plan_runs(change, automation(field_trigger(), rule()), "evt-1")
    assert [r.automation.id for r in plan.runs] == ["t-amount-sales"]
    assert plan.runs[0].started_by.event == "field_changed"


def test_field_trigger_ignores_other_fields_and_other_pipelines() -> None:
    change = diff(deal("new", company="A"), deal("new", company="B"))
    assert plan_runs(change, automation(field_trigger()), "evt-1").runs == []
    change = diff(deal("new", amount=Decimal("1")), deal("new", amount=Decimal("2")))
    assert plan_runs(change, automation(field_trigger(pipeline_id="support")), "evt-1").runs == []


def test_field_trigger_does_not_fire_on_creation() -> None:
    assert plan_runs(diff(None, deal("new")), automation(field_trigger()), "evt-1").runs == []


def test_dispatcher_starts_a_change_s_runs_through_the_starter_s_concurrent_path() -> None:
    """A starter that can start several runs at once is given them all, and the ids that started
    come back in the plan's order (a name already taken is left out)."""

    class Together(FakeStarter):
        def __init__(self) -> None:
            super().__init__()
            self.batches: list[list[str]] = []

        def start_all(self, requests: list[RunRequest]) -> list[bool]:
            self.batches.append([r.automation.id for r in requests])
            return [self.start(r) for r in requests]

    starter = Together()
    d = Dispatcher(FakeLoader(rule("a"), rule("b"), rule("c")), starter, FakeLog([]))
    starter.names.add(run_id_for("evt-1", "b"))
    started = handle(d, deal("offer"), deal("won"), "evt-1")
    assert starter.batches == [["a", "b", "c"]]
    assert started == [run_id_for("evt-1", "a"), run_id_for("evt-1", "c")]


# --- a Lambda batch ----------------------------------------------------------------------------------------


class OrderedStarter(FakeStarter):
    """Notes each start, by tenant, in ``events``; fails the starts of ``failing`` tenants."""

    def __init__(self, events: list[tuple[str, str]], failing: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.events, self.failing = events, failing

    def start(self, request: RunRequest) -> bool:
        self.events.append(("start", request.tenant_id))
        if request.tenant_id in self.failing:
            raise RuntimeError("TooManyRequestsException")
        return super().start(request)


def test_a_batch_starts_its_runs_at_its_end_but_a_deleted_deal_s_queued_runs_before_it_is_cancelled() -> None:
    events: list[tuple[str, str]] = []
    d = Dispatcher(
        FakeLoader(rule()),
        OrderedStarter(events),
        FakeLog([]),
        on_deleted=lambda tenant_id, deal_id: events.append(("cancel", tenant_id)),
    )
    batch = d.batch()
    batch.add(image(deal("offer")), image(deal("won")), "evt-1")
    batch.add(image(deal("offer", tenant_id="t2")), image(deal("won", tenant_id="t2")), "evt-2")
    assert events == []  # planned, not started yet

    batch.add(image(deal("won")), None, "evt-3")  # t1's deal deleted later in the same batch
    assert events == [("start", "t1"), ("cancel", "t1")]

    outcome = batch.finish()
    assert events[-1] == ("start", "t2")
    assert outcome.started == {"evt-1": [run_id_for("evt-1", "r-won")], "evt-2": [run_id_for("evt-2", "r-won")]}
    assert outcome.failed == {}


def test_a_start_that_fails_fails_its_own_record_and_the_batch_s_other_runs_still_start() -> None:
    events: list[tuple[str, str]] = []
    starter = OrderedStarter(events, failing=frozenset({"t2"}))
    d = Dispatcher(FakeLoader(rule("a"), rule("b")), starter, FakeLog([]))
    batch = d.batch()
    for n, tenant in enumerate(("t1", "t2", "t3")):
        batch.add(image(deal("offer", tenant_id=tenant)), image(deal("won", tenant_id=tenant)), f"evt-{n}")

    outcome = batch.finish()

    assert set(outcome.failed) == {"evt-1"} and "TooManyRequests" in str(outcome.failed["evt-1"])
    assert set(outcome.started) == {"evt-0", "evt-2"} and all(len(ids) == 2 for ids in outcome.started.values())
    assert events.count(("start", "t2")) == 2  # both of its runs were tried
