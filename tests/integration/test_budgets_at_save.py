"""Budgets at save, through the management API: automation whose run would pass what one durable
execution allows is refused with a 422 naming the field, the figures and the limit, on every way
automation is written (PUT, import), and nothing is written."""

from __future__ import annotations

import copy
from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}


def _daily_reminder(max_iterations: int) -> dict[str, Any]:
    return {
        "kind": "business_process",
        "id": "daily-reminder",
        "name": "Remind the owner every day while the deal is new",
        "start_on": ["add"],
        "nodes": [
            {
                "kind": "loop",
                "name": "reminders",
                "while": {"field": "stage_id", "op": "equals", "value": "new"},
                "max_iterations": max_iterations,
                "nodes": [
                    {"kind": "delay", "delay": {"days": 1}},
                    {
                        "kind": "action",
                        "action": {"kind": "notify", "to": {"responsible": True}, "message": "{{ deal.title }}"},
                    },
                ],
            }
        ],
    }


def test_a_process_past_the_operations_and_the_run_time_a_run_has_is_refused_with_the_figures(
    stack: MotoStack,
) -> None:
    status, body = stack.api("PUT", "/automation/daily-reminder", _daily_reminder(1000), claims=ADMIN)

    assert status == 422, body
    assert body["problems"] == [
        {
            "field": "nodes.0.max_iterations",
            "problem": "this business process may take 4,004 durable operations; a run may take at most 3,000 "
            "(AWS Lambda's limit per durable execution): lower loop 'reminders' max_iterations to 749 or fewer",
        },
        {
            "field": "nodes.0.max_iterations",
            "problem": "this business process may wait 1,000 days in all; a run may wait at most 365 days (the "
            "runner's execution timeout, less a day for its steps): lower loop 'reminders' max_iterations to "
            "365 or fewer",
        },
    ]
    assert "daily-reminder" not in stack.automation.load(TENANT).by_id

    status, body = stack.api("PUT", "/automation/daily-reminder", _daily_reminder(365), claims=ADMIN)
    assert status == 201, body


def test_a_delay_longer_than_a_durable_wait_is_refused_on_put_and_on_import(stack: MotoStack) -> None:
    status, document = stack.api("GET", "/export", claims=ADMIN)
    assert status == 200
    rule = next(a for a in document["automation"] if a["id"] == "proposal-follow-up")
    late = {**rule, "delay": {"days": 400}}
    limit = "at most 366 days (31,622,400 s, the longest durable wait)"

    status, body = stack.api("PUT", "/automation/proposal-follow-up", late, claims=ADMIN)
    assert status == 422, body
    assert body["problems"] == [
        {"field": "delay", "problem": f"a delay of 400 days is longer than a run can wait: {limit}"}
    ]

    edited = copy.deepcopy(document)
    edited["automation"] = [late if a["id"] == "proposal-follow-up" else a for a in edited["automation"]]
    status, body = stack.api("POST", "/import", edited, claims=ADMIN, query={"dry_run": "false"})
    assert status == 422, body
    problems = {p["field"]: p["problem"] for p in body["problems"]}
    assert problems == {
        "automation.proposal-follow-up.delay": f"a delay of 400 days is longer than a run can wait: {limit}"
    }
    assert stack.api("GET", "/export", claims=ADMIN)[1] == document
