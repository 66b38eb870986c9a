"""A template the engine would refuse to run is refused on every way automation is saved — the API's
PUT, copy, move and bulk, an import, the local harness — each time naming the field as written."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.http_errors import Invalid
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Rule

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
UNSAFE = "{{ ''.__class__ }}"


def _fields(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def _rule(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": "won-mail",
        "name": "Won: mail the head",
        "pipeline_id": "sales",
        "stage_id": "won",
        "actions": [{"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "Won", "body": "Well done"}],
        **changes,
    }


def _stored(stack: MotoStack) -> dict[str, Any]:
    return stack.automation.load(TENANT).by_id


def test_put_refuses_a_process_template_naming_where_it_stands(stack: MotoStack) -> None:
    chase = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Chase {{ deal.title }} " + UNSAFE}
    process = {
        "kind": "business_process",
        "id": "chase",
        "name": "Chase until won",
        "start_on": ["manual"],
        "nodes": [
            {"kind": "set_variable", "variable": "share", "expression": "deal.amount *"},
            {
                "kind": "loop",
                "while": {"field": "stage_id", "op": "not_equals", "value": "won"},
                "nodes": [
                    {"kind": "delay", "delay": {"days": 1}},
                    {"kind": "action", "action": chase},
                ],
            },
        ],
    }
    status, body = stack.api("PUT", "/automation/chase", process, claims=ADMIN)
    assert status == 422
    problems = _fields(body)
    assert set(problems) == {"nodes.0.expression", "nodes.1.nodes.1.action.message"}
    assert "syntax error" in problems["nodes.0.expression"]
    assert "reaches Python internals" in problems["nodes.1.nodes.1.action.message"]
    assert "chase" not in _stored(stack)


def test_put_names_a_template_problem_with_the_broken_references(stack: MotoStack) -> None:
    rule = _rule(
        actions=[{"kind": "notify", "to": {"users": ["u-ghost"]}, "message": "{{ deal.title }"}],
        condition={"field": "budget", "op": "gt", "value": 1},
    )
    status, body = stack.api("PUT", "/automation/won-mail", rule, claims=ADMIN)
    assert status == 422
    problems = _fields(body)
    assert set(problems) == {"actions.0.message", "actions.0.to.users.0", "condition.field"}
    assert "template syntax error on line 1" in problems["actions.0.message"]


def test_copy_move_and_bulk_refuse_automation_stored_with_a_bad_template(stack: MotoStack) -> None:
    # Stored behind the API's back (as automation saved before a check existed would be).
    stack.automation.put_definition(TENANT, Rule.model_validate(_rule(actions=[_email_with(subject=UNSAFE)])))

    status, body = stack.api("POST", "/automation/won-mail/copy", {"stage_id": "lost"}, claims=ADMIN)
    assert status == 422 and "reaches Python internals" in _fields(body)["actions.0.subject"]
    status, body = stack.api("POST", "/automation/won-mail/move", {"stage_id": "lost"}, claims=ADMIN)
    assert status == 422 and set(_fields(body)) == {"actions.0.subject"}
    status, body = stack.api(
        "POST",
        "/automation/bulk",
        {"operation": "copy", "ids": ["won-mail"], "target": {"stage_id": "lost"}},
        claims=ADMIN,
    )
    assert status == 422 and set(_fields(body)) == {"items.won-mail.actions.0.subject"}
    assert _stored(stack)["won-mail"].stage_id == "won" and "won-mail-copy" not in _stored(stack)


def test_import_refuses_bad_templates_naming_each_under_its_automation(stack: MotoStack) -> None:
    status, document = stack.api("GET", "/export", claims=ADMIN)
    assert status == 200
    document["automation"] += [
        _rule(actions=[_email_with(body=UNSAFE)]),
        _rule(id="won-broken", actions=[{"kind": "send_email", "to": {}, "subject": "s", "body": "{% if %}"}]),
    ]
    status, body = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "false"})
    assert status == 422
    problems = _fields(body)
    assert set(problems) == {
        "automation.won-mail.actions.0.body",
        "automation.won-broken.actions.0.to",  # the model's problem and the template's, in one answer
        "automation.won-broken.actions.0.body",
    }
    assert "reaches Python internals" in problems["automation.won-mail.actions.0.body"]
    assert "won-mail" not in _stored(stack)


def test_the_local_harness_refuses_what_the_api_refuses(stack: MotoStack) -> None:
    with pytest.raises(Invalid) as refused:
        stack.put_automation(TENANT, Rule.model_validate(_rule(actions=[_email_with(subject=UNSAFE)])))
    assert [p["field"] for p in refused.value.problems] == ["actions.0.subject"]
    assert "won-mail" not in _stored(stack)

    stack.put_rule(TENANT, Rule.model_validate(_rule()))
    assert "won-mail" in _stored(stack)


def _email_with(**texts: str) -> dict[str, Any]:
    return {"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "Won", "body": "Well done", **texts}


@pytest.mark.parametrize(
    ("action", "field", "problem"),
    [
        (_email_with(subject="{{ " + "(" * 300 + "deal.title" + ")" * 300 + " }}"), "actions.0.subject", "nests"),
        (
            _email_with(body="{{ " + "deal.amount + " * 3000 + "1 }}"),
            "actions.0.body",
            "nests more than 50 levels deep",
        ),
        (
            {"kind": "update_fields", "values": {"amount": {"expression": "(" * 300 + "1" + ")" * 300}}},
            "actions.0.values.amount.expression",
            "nests",
        ),
        (
            {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Pick {{ ['a', 'b']|random }}"},
            "actions.0.message",
            "the filter 'random' is not available: a run replayed after a wait must decide the same way",
        ),
        (
            _email_with(body="{{ range(10)|random }}"),
            "actions.0.body",
            "the filter 'random' is not available",
        ),
        (
            _email_with(body="We sell {{ deal.fields.what_we_sell }}"),
            "actions.0.body",
            "write deal.what_we_sell, not deal.fields.what_we_sell",
        ),
        (
            _email_with(body="{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"),
            "actions.0.body",
            "loops here would turn 1,000,000 times",
        ),
        (_email_with(body="{{ 'x'|center(10**9) }}"), "actions.0.body", "widths are limited"),
    ],
)
def test_put_refuses_what_a_template_shows_it_would_do_naming_the_field(
    stack: MotoStack, action: dict[str, Any], field: str, problem: str
) -> None:
    status, body = stack.api("PUT", "/automation/won-mail", _rule(actions=[action]), claims=ADMIN)
    assert status == 422, body
    problems = _fields(body)
    assert list(problems) == [field]
    assert problem in problems[field] and problems[field].startswith(("template refused: ", "expression refused: "))
    assert "won-mail" not in _stored(stack)


def _failed_run(stack: MotoStack, deal_id: str, automation_id: str) -> str:
    [run] = [r for r in stack.runs(TENANT, deal_id) if r.automation_id == automation_id]
    assert run.status == "failed", run
    assert run.reason is not None
    return run.reason


def test_a_render_past_its_budget_fails_its_run_with_a_reason_and_the_next_runs_go_on(stack: MotoStack) -> None:
    # Nothing in the text says how often these loops turn: the deal's amount does, so it is saved.
    loops = "{% for i in range(deal.amount|int) %}{% for j in range(deal.amount|int) %}{% endfor %}{% endfor %}"
    stack.put_automation(TENANT, Rule.model_validate(_rule(actions=[_email_with(body=loops)])))
    stack.create_deal(demo_deal("d-big", "Huge", "100000", "services"))
    stack.create_deal(demo_deal("d-small", "Small", "10", "services"))
    stack.drain()

    stack.move_deal(TENANT, "d-big", "won")
    stack.move_deal(TENANT, "d-small", "won")
    stack.drain()

    reason = _failed_run(stack, "d-big", "won-mail")
    assert "template stopped: it took more than 100,000 steps (loop turns, filter and method calls)" in reason
    [done] = [r for r in stack.runs(TENANT, "d-small") if r.automation_id == "won-mail"]
    assert done.status == "completed"
    assert [e.subject for e in stack.emails()] == ["Won"]
    # The deal's other rules ran as ever.
    assert {n.deal_id for n in stack.notifications()} == {"d-big", "d-small"}


def test_a_text_past_the_output_cap_fails_its_run_saying_so(stack: MotoStack) -> None:
    body = "{% for i in range(3000) %}{{ deal.title }}{% endfor %}"
    stack.put_automation(TENANT, Rule.model_validate(_rule(actions=[_email_with(body=body)])))
    stack.create_deal(demo_deal("d-1", "A title of exactly forty characters ....", "10", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()

    assert "template stopped: the rendered text exceeds 100000 characters" in _failed_run(stack, "d-1", "won-mail")
    assert stack.emails() == []  # nothing cut short is sent
