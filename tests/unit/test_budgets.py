"""Budgets at save: automation whose run would pass what one durable execution allows (3,000
operations, 366 days per wait, the runner's execution timeout) is refused with the figures and
what to change; the count matches what the interpreter really does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dealflow.authoring.budgets import budget_of
from dealflow.authoring.checks import check_automation
from dealflow.engine.delays import DelayError, wake_moment
from dealflow.engine.run_requests import run_request
from dealflow.http_errors import Invalid
from dealflow.model import Delay, StageEntry
from dealflow.model.catalog import Automation
from tests.fakes import (
    FakeAutomation,
    FakeDeals,
    FakeEngine,
    a_rule,
    a_tenant,
    a_won_deal,
    automation_of,
    compiled_tenant,
    some_fields,
    some_pipelines,
)

KNOWN = compiled_tenant()
NOTIFY = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}
TASK = {"kind": "create_task", "title": "Call about {{ deal.title }}"}
ALWAYS = {"field": "title", "op": "is_not_empty"}


def _process(*nodes: dict[str, Any]) -> Automation:
    return automation_of(kind="business_process", id="p", name="P", start_on=["change"], nodes=list(nodes))


def _loop(max_iterations: int, *nodes: dict[str, Any], name: str = "reminders") -> dict[str, Any]:
    return {"kind": "loop", "name": name, "while": ALWAYS, "max_iterations": max_iterations, "nodes": list(nodes)}


def _action(spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "action", "action": spec}


def _day() -> dict[str, Any]:
    return {"kind": "delay", "delay": {"days": 1}}


def _refused(automation: Automation) -> dict[str, str]:
    with pytest.raises(Invalid) as exc:
        check_automation(automation, KNOWN)
    return {p["field"]: p["problem"] for p in exc.value.problems}


def test_a_loop_that_would_pass_3000_operations_is_refused_with_the_figures_and_the_cap_that_fits() -> None:
    three_actions = [_action(NOTIFY), _action(TASK), _action(NOTIFY)]

    assert _refused(_process(_loop(1000, *three_actions))) == {
        "nodes.0.max_iterations": "this business process may take 3,004 durable operations; a run may take at "
        "most 3,000 (AWS Lambda's limit per durable execution): lower loop 'reminders' max_iterations to 998 "
        "or fewer"
    }
    check_automation(_process(_loop(998, *three_actions)), KNOWN)
    assert "3,001 durable operations" in _refused(_process(_loop(999, *three_actions)))["nodes.0.max_iterations"]


def test_a_daily_reminder_for_1000_days_passes_both_operations_and_the_run_timeout() -> None:
    with pytest.raises(Invalid) as exc:
        check_automation(_process(_action(NOTIFY), _loop(1000, _day(), _action(NOTIFY), name="daily")), KNOWN)

    assert exc.value.problems == [
        {
            "field": "nodes.1.max_iterations",
            "problem": "this business process may take 4,005 durable operations; a run may take at most 3,000 "
            "(AWS Lambda's limit per durable execution): lower loop 'daily' max_iterations to 748 or fewer",
        },
        {
            "field": "nodes.1.max_iterations",
            "problem": "this business process may wait 1,000 days in all; a run may wait at most 365 days (the "
            "runner's execution timeout, less a day for its steps): lower loop 'daily' max_iterations to 365 "
            "or fewer",
        },
    ]
    check_automation(_process(_action(NOTIFY), _loop(365, _day(), _action(NOTIFY), name="daily")), KNOWN)


def test_nested_loops_multiply_and_the_advice_names_the_loop_that_costs_most() -> None:
    inner = _loop(50, _action(NOTIFY), name="inner")
    refused = _refused(_process(_loop(100, inner, name="outer")))

    assert refused == {
        "nodes.0.max_iterations": "this business process may take 5,004 durable operations; a run may take at "
        "most 3,000 (AWS Lambda's limit per durable execution): lower loop 'outer' max_iterations to 59 or fewer"
    }


def test_the_dearest_branch_counts_not_the_sum_of_all() -> None:
    heavy = [_action(NOTIFY)] * 2
    choice = {
        "kind": "condition",
        "branches": [{"name": "big", "condition": ALWAYS, "nodes": [_loop(1000, *heavy)]}],
        "otherwise": [_loop(1000, _action(NOTIFY))],
    }

    assert budget_of(_process(choice)).cost.operations == 2000 + 4
    assert set(_refused(_process(choice, _loop(1000, _action(TASK), name="after")))) == {
        "nodes.0.branches.0.nodes.0.max_iterations"
    }


@pytest.mark.parametrize(
    ("delay", "problem"),
    [
        (
            {"days": 400},
            "a delay of 400 days is longer than a run can wait: at most 366 days (31,622,400 s, the longest "
            "durable wait)",
        ),
        (
            {"days": 400, "relative_to_field": "proposal_sent_on"},
            "400 days after 'proposal_sent_on' is further than a run can wait: at most 366 days (31,622,400 s, "
            "the longest durable wait)",
        ),
        (
            {"days": 366},
            "this rule may wait 366 days in all; a run may wait at most 365 days (the runner's execution "
            "timeout, less a day for its steps): shorten its delays",
        ),
    ],
)
def test_a_rule_delay_past_what_a_run_can_wait_is_refused_naming_the_delay(delay: dict[str, Any], problem: str) -> None:
    assert _refused(a_rule("late", delay=delay)) == {"delay": problem}


def test_a_delay_in_a_process_is_named_where_it_sits_and_dates_before_a_field_are_allowed() -> None:
    late = {"kind": "delay", "delay": {"hours": 24 * 367}}
    choice = {"kind": "condition", "branches": [{"name": "b", "condition": ALWAYS, "nodes": [late]}]}

    assert list(_refused(_process(_action(NOTIFY), choice))) == ["nodes.1.branches.0.nodes.0.delay"]
    check_automation(a_rule("long-before", delay={"days": -400, "relative_to_field": "proposal_sent_on"}), KNOWN)
    check_automation(a_rule("a-year", delay={"days": 365}), KNOWN)


# The count is the interpreter's: run the worst path on in-memory ports and count what it did.

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


WORST_PATHS = [
    a_rule("delayed", NOTIFY, TASK, delay={"days": 2}),
    a_rule("at-once", NOTIFY),
    _process(
        _loop(3, _day(), _action(NOTIFY), {"kind": "set_variable", "variable": "seen", "value": 1, "scope": "tenant"}),
        {"kind": "set_variable", "variable": "local", "value": 2},
        {
            "kind": "condition",
            "branches": [{"name": "taken", "condition": ALWAYS, "nodes": [_action(NOTIFY), _action(TASK)]}],
            "otherwise": [_action(NOTIFY)],
        },
    ),
]


@pytest.mark.parametrize("automation", WORST_PATHS, ids=lambda a: a.id)
def test_the_budget_counts_the_operations_and_waits_a_run_really_makes(automation: Automation) -> None:
    engine = FakeEngine(
        FakeAutomation(a_tenant(), some_pipelines(), some_fields(), [automation]), FakeDeals(a_won_deal())
    )
    entry = StageEntry(pipeline_id="sales", stage_id="won")
    request = run_request(a_won_deal(), automation, "e-1", entry.model_dump(), run_id="run-1")

    record, durable = engine.run(request)

    assert record.status == "completed"
    budget = budget_of(automation).cost
    # Besides what the run did: the execution itself, and the step a failure would have written.
    assert budget.operations == len(durable.operations) + 2
    assert budget.wait_seconds == sum(seconds for _, seconds in durable.waits)


def test_a_wait_worked_out_past_the_durable_maximum_is_an_error_the_run_fails_on() -> None:
    deal = a_won_deal().model_copy(update={"fields": {"proposal_sent_on": "2027-06-01"}})

    with pytest.raises(DelayError) as exc:
        wake_moment(Delay(days=30, relative_to_field="proposal_sent_on"), deal, NOW)
    assert str(exc.value) == (
        "it would end at 2027-07-01 00:00 UTC, 486 days from now; a run can wait at most 366 days "
        "(31,622,400 s) at a time"
    )
    in_reach = wake_moment(Delay(days=-200, relative_to_field="proposal_sent_on"), deal, NOW)
    assert in_reach == datetime(2026, 11, 13, tzinfo=UTC)
    assert wake_moment(Delay(days=366), deal, NOW) == NOW + timedelta(days=366)
