"""The assign action on moto: round-robin stays fair under concurrent assignments, users out of
office are passed over, least-loaded counts open deals, a retried step keeps its turn, and test
mode assigns on paper only."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from dealflow import runtime
from dealflow.engine.actions import ActionContext, perform
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.model import Assign, Causation, Role, Rule, User
from dealflow.model.calendar import Calendar, UserCalendar

REPS = [f"u-rep{n}" for n in range(1, 9)]
WEEK = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def serialised_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's in-process DynamoDB checks a condition and writes without a lock (DESIGN.md's traps):
    two threads could both pass ``turns = :seen``, which DynamoDB never allows. Each call is made
    atomic, as each is on DynamoDB, so what the test judges is the counter, not moto."""
    lock = threading.RLock()
    for name in ("transact_write_items", "update_item", "put_item", "get_item"):
        original: Callable[..., Any] = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with MotoStack(start=datetime(2026, 11, 18, 10, 0, tzinfo=UTC)) as local:  # Wednesday 11:00 in Warsaw
        set_up(local)
        tenant = local.automation.get_tenant(TENANT)
        reps = [User(id=r, name=f"Rep {r[-1]}", email=f"{r}@acme.example", role=Role.SALES_REP) for r in REPS]
        calendar = Calendar(time_zone="Europe/Warsaw", hours=WEEK)  # type: ignore[arg-type]
        local.put_tenant(tenant.model_copy(update={"users": [*tenant.users, *reps], "calendar": calendar}))
        yield local


def _assign_at_once(stack: MotoStack, action: Assign, deal_ids: list[str]) -> list[str]:
    """Assign each deal in a thread of its own, all released together, as concurrent runs would."""
    for deal_id in deal_ids:
        stack.create_deal(demo_deal(deal_id, deal_id, "1.00", "services", responsible="u-head"))
    start = threading.Barrier(len(deal_ids))

    def assign(deal_id: str) -> str:
        services = runtime.runner_services()  # clients of its own, as each Lambda container has
        compiled = services.automation.load(TENANT)
        ctx = ActionContext(
            tenant=compiled.tenant,
            pipelines=compiled.pipelines,
            fields={},
            deal=services.deals.require(TENANT, deal_id),
            effect_key=f"run-{deal_id}:0",
            causation=Causation(run_id=f"run-{deal_id}", automation_id="round-robin", depth=0),
            services=services,
        )
        start.wait()
        return str(perform(action, ctx)["assigned_to"])

    with ThreadPoolExecutor(max_workers=len(deal_ids)) as pool:
        chosen = list(pool.map(assign, deal_ids))
    for deal_id, user_id in zip(deal_ids, chosen, strict=True):
        assert stack.get_deal(TENANT, deal_id).responsible_id == user_id  # type: ignore[union-attr]
    return chosen


@pytest.mark.usefixtures("serialised_moto")
def test_eight_concurrent_assignments_among_eight_users_give_each_one(stack: MotoStack) -> None:
    chosen = _assign_at_once(stack, Assign(users=REPS), [f"d-{n}" for n in range(8)])
    assert sorted(chosen) == sorted(REPS)


@pytest.mark.usefixtures("serialised_moto")
def test_eight_concurrent_assignments_among_a_role_of_four_split_evenly(stack: MotoStack) -> None:
    tenant = stack.automation.get_tenant(TENANT)
    four = set(REPS[:4])
    users = [u.model_copy(update={"role": Role.SALES_MANAGER}) if u.id in four else u for u in tenant.users]
    users = [u.model_copy(update={"role": Role.SALES_REP}) if u.id == "u-head" else u for u in users]
    stack.put_tenant(tenant.model_copy(update={"users": users}))
    chosen = _assign_at_once(stack, Assign(role="sales_manager"), [f"d-{n}" for n in range(8)])
    assert Counter(chosen) == dict.fromkeys(sorted(four), 2)


def _rule(action: dict[str, Any]) -> Rule:
    return Rule.model_validate(
        {"id": "route-new", "name": "Route new deals", "pipeline_id": "sales", "stage_id": "new", "actions": [action]}
    )


def _created(stack: MotoStack, *deal_ids: str) -> list[str]:
    for deal_id in deal_ids:
        stack.create_deal(demo_deal(deal_id, deal_id, "1.00", "services", responsible="u-head"))
        stack.drain()
    return [stack.get_deal(TENANT, d).responsible_id for d in deal_ids]  # type: ignore[union-attr]


def test_round_robin_through_the_runner_takes_turns(stack: MotoStack) -> None:
    stack.put_rule(TENANT, _rule({"kind": "assign", "users": ["u-anna", "u-piotr", "u-pm"]}))
    assert _created(stack, "d-1", "d-2", "d-3", "d-4") == ["u-anna", "u-piotr", "u-pm", "u-anna"]
    [run] = [r for r in stack.runs(TENANT, "d-2") if r.automation_id == "route-new"]
    [step] = [s for s in run.steps if s.kind == "action"]
    assert step.detail["assigned_to"] == "u-piotr" and step.detail["turn"] == 2


def test_users_out_of_office_or_outside_their_hours_are_passed_over(stack: MotoStack) -> None:
    tenant = stack.automation.get_tenant(TENANT)
    away = UserCalendar.model_validate({"out_of_office": [{"start": "2026-11-16", "end": "2026-11-20"}]})
    asleep = UserCalendar.model_validate({"time_zone": "America/Los_Angeles"})  # 02:00 there
    calendars = {"u-anna": away, "u-pm": asleep}
    users = [u.model_copy(update={"calendar": calendars.get(u.id)}) for u in tenant.users]
    stack.put_tenant(tenant.model_copy(update={"users": users}))
    rule = _rule({"kind": "assign", "users": ["u-anna", "u-piotr", "u-pm"], "skip_unavailable": True})
    stack.put_rule(TENANT, rule)

    assert _created(stack, "d-1", "d-2") == ["u-piotr", "u-piotr"]
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "route-new"]
    [step] = [s for s in run.steps if s.kind == "action"]
    assert step.detail["skipped"]["u-anna"] == "out of office"
    assert step.detail["skipped"]["u-pm"].startswith(
        "outside working hours (now Wed 2026-11-18 02:00 America/Los_Angeles"
    )


def test_when_everyone_is_away_the_run_fails_naming_who_and_why(stack: MotoStack) -> None:
    tenant = stack.automation.get_tenant(TENANT)
    away = UserCalendar.model_validate({"out_of_office": [{"start": "2026-11-18", "end": "2026-11-18"}]})
    users = [u.model_copy(update={"calendar": away}) if u.id == "u-anna" else u for u in tenant.users]
    stack.put_tenant(tenant.model_copy(update={"users": users}))
    stack.put_rule(TENANT, _rule({"kind": "assign", "users": ["u-anna"], "skip_unavailable": True}))
    _created(stack, "d-1")
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "route-new"]
    assert run.status == "failed"
    assert "no one to assign: everyone was passed over (u-anna: out of office)" in (run.reason or "")


def test_least_loaded_counts_open_deals_and_takes_ties_in_turn(stack: MotoStack) -> None:
    for n, stage in enumerate(["new", "proposal", "won", "lost"]):  # anna: two open, two closed
        deal = demo_deal(f"old-{n}", "old", "1.00", "products", responsible="u-anna")  # no tunnel copies it
        stack.create_deal(deal.model_copy(update={"stage_id": stage}))
    stack.create_deal(demo_deal("old-9", "old", "1.00", "services", responsible="u-piotr"))
    stack.drain()
    stack.put_rule(TENANT, _rule({"kind": "assign", "users": ["u-anna", "u-piotr"], "strategy": "least_loaded"}))

    # piotr has one open deal to anna's two; then they are level and the pool's second turn goes to
    # the second of them (piotr); then anna has fewer.
    assert _created(stack, "d-1", "d-2", "d-3") == ["u-piotr", "u-piotr", "u-anna"]
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "route-new"]
    [step] = [s for s in run.steps if s.kind == "action"]
    assert step.detail["open_deals"] == {"u-anna": 2, "u-piotr": 1}


def test_a_retried_step_keeps_its_turn(stack: MotoStack) -> None:
    turns = runtime.runner_services().turns
    assert turns is not None
    first = turns.take(TENANT, "users:a,b", "run-1:0")
    assert turns.take(TENANT, "users:a,b", "run-1:0") == first  # the same effect: the same turn
    assert turns.take(TENANT, "users:a,b", "run-2:0") == first + 1


def test_test_mode_would_assign_and_takes_no_turn(stack: MotoStack) -> None:
    stack.put_rule(TENANT, _rule({"kind": "assign", "users": ["u-anna", "u-piotr"]}))
    stack.create_deal(demo_deal("d-1", "d-1", "1.00", "services", responsible="u-head"))
    for _ in range(2):
        run = stack.test_run(TENANT, "route-new", deal_id="d-1")
        [step] = [s for s in run.steps if s.kind == "action"]
        assert step.detail["would"] == "would assign to Anna Kowalska (u-anna)"
    stack.drain()
    assert stack.get_deal(TENANT, "d-1").responsible_id == "u-anna"  # type: ignore[union-attr]
    assert _created(stack, "d-2") == ["u-piotr"]
