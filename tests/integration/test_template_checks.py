"""A template the engine would refuse to run is refused on every way automation is saved — the API's
PUT, copy, move and bulk, an import, the local harness — each time naming the field as written."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.http_errors import Invalid
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT
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
