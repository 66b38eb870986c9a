"""An ``http_request``'s JSON body carries numbers, whole numbers, booleans and JSON where the
receiver expects them, not only texts; a value that is not what its type says fails the action,
naming the key, and nothing is sent."""

from __future__ import annotations

import json

from dealflow.local import MotoStack
from tests.integration.test_http_requests import ADMIN, Receiver, _call, _rule, _run, _save, _won, receiver

__all__ = ["receiver"]  # the fixture, shared with the http_request tests


def _typed(template: str, type_: str) -> dict[str, str]:
    return {"template": template, "type": type_}


def test_typed_values_reach_the_receiver_as_json_numbers_booleans_and_objects(
    stack: MotoStack, receiver: Receiver
) -> None:
    body = {
        "deal": "{{ deal.id }}",
        "amount": _typed("{{ deal.amount }}", "number"),
        "half": _typed("{{ deal.amount / 2 }}", "number"),
        "seats": _typed("{{ 12 }}", "integer"),
        "services": _typed("{{ deal.what_we_sell == 'services' }}", "boolean"),
        "sold": _typed('{{ {"what": deal.what_we_sell, "lines": [1, 2]} | tojson }}', "json"),
        "discount": _typed("{{ '' }}", "number"),
        "title": _typed("{{ deal.title }}", "text"),
    }
    _save(stack, _call(receiver, json_body=body))

    _won(stack)

    [got] = receiver.received
    assert json.loads(got.body) == {
        "deal": "d-1",
        "amount": 7300,
        "half": 3650,
        "seats": 12,
        "services": True,
        "sold": {"what": "services", "lines": [1, 2]},
        "discount": None,  # an empty text is null
        "title": "Data migration",
    }
    assert _run(stack)["status"] == "completed"


def test_a_value_that_is_not_its_type_fails_the_action_naming_the_key_and_nothing_is_sent(
    stack: MotoStack, receiver: Receiver
) -> None:
    _save(stack, _call(receiver, json_body={"amount": _typed("{{ deal.title }}", "number")}))

    _won(stack)

    assert receiver.received == []
    run = _run(stack)
    assert run["status"] == "failed"
    assert "json_body.amount: 'Data migration' is not a number" in run["reason"]


def test_saving_refuses_an_unknown_type_and_a_broken_template_naming_the_field(
    stack: MotoStack, receiver: Receiver
) -> None:
    for value, where in (
        (_typed("{{ deal.amount }}", "money"), "json_body.amount"),
        (_typed("{{ deal.amount ", "number"), "json_body.amount"),
    ):
        rule = _rule(_call(receiver, json_body={"amount": value}))
        status, reply = stack.api("PUT", "/automation/won-call", rule, claims=ADMIN)
        assert status == 422, reply
        assert where in json.dumps(reply), reply
