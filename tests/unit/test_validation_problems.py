"""How a refused body's problems name their fields: as the caller wrote them, whatever union a value
sits in, under a prefix when many items are checked at once."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dealflow.authoring.checks import AUTOMATION
from dealflow.http_errors import Invalid, problems_from
from dealflow.webhooks.events import parse_event

PLACE = {"id": "r1", "name": "Rule", "pipeline_id": "sales", "stage_id": "won"}
RULE: dict[str, Any] = {"kind": "rule", **PLACE, "actions": [{"kind": "move_to_stage", "stage_id": "done"}]}
TUNNEL = {"kind": "tunnel", **PLACE, "target_pipeline_id": "sales", "target_stage_id": "new", "mode": "copy"}
NOTIFY = {"kind": "notify", "to": {"users": ["u1"]}, "message": "hi"}


def _problems(body: dict[str, Any], prefix: str = "") -> dict[str, str]:
    with pytest.raises(ValidationError) as exc:
        AUTOMATION.validate_python(body)
    return {p["field"]: p["problem"] for p in problems_from(exc.value, prefix)}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**RULE, "condition": {"field": "amount", "op": "gt"}}, "condition.value"),
        ({**RULE, "condition": {"all": [{"field": "amount", "op": "in", "value": 1}]}}, "condition.all.0.value"),
        ({**RULE, "actions": [{**NOTIFY, "to": {}}]}, "actions.0.to"),
        ({**RULE, "actions": [{**NOTIFY, "to": {"contact": True}}]}, "actions.0.to.contact"),
        ({**RULE, "actions": [{"kind": "move_to_stage", "stage_id": "x", "force": True}]}, "actions.0.force"),
        ({**RULE, "actions": [{"kind": "call_webhook"}]}, "actions.0.kind"),
        ({**RULE, "condition": None, "rule": 1}, "rule"),
        (TUNNEL, "target_pipeline_id"),
        (
            {
                "kind": "business_process",
                "id": "p",
                "name": "P",
                "start_on": ["manual"],
                "nodes": [{"kind": "action", "action": {**NOTIFY, "to": {}}}],
            },
            "nodes.0.action.to",
        ),
        (
            {
                "kind": "business_process",
                "id": "p",
                "name": "P",
                "start_on": ["manual"],
                "nodes": [{"kind": "loop", "while": {"field": "a", "op": "gt"}, "nodes": [{"kind": "set_variable"}]}],
            },
            "nodes.0.while.value",
        ),
    ],
)
def test_fields_are_named_as_written(body: dict[str, Any], field: str) -> None:
    assert field in _problems(body)


def test_a_set_variable_without_value_names_its_node() -> None:
    body = {
        "kind": "business_process",
        "id": "p",
        "name": "P",
        "start_on": ["manual"],
        "nodes": [{"kind": "set_variable", "variable": "v"}],
    }
    assert _problems(body) == {"nodes.0": "give either value or expression"}


def test_problems_of_many_items_are_named_under_each_item() -> None:
    problems = _problems({**RULE, "actions": [{**NOTIFY, "to": {}}]}, prefix="items.r1")
    assert list(problems) == ["items.r1.actions.0.to"]
    refused = Invalid.field("stage_id", "no stage 'x' in pipeline 'sales'")
    assert problems_from(refused, "automation.r1") == [
        {"field": "automation.r1.stage_id", "problem": "no stage 'x' in pipeline 'sales'"}
    ]
    assert problems_from(refused) == refused.problems


def test_webhook_event_problems_are_named_like_the_api_names_them() -> None:
    with pytest.raises(Invalid) as exc:
        parse_event(b'{"id": "e1", "kind": "custom", "deal_id": "d 1", "rule": 1}')
    assert {p["field"] for p in exc.value.problems} == {"deal_id", "custom_event", "rule"}
    assert "custom_event: required when kind is 'custom'" in exc.value.reason
