"""A ``wait_for`` node as its author meets it through the management API: what saving refuses (422s
naming the field), test mode's "would wait for … up to …", export and import, and the warning when
a stage it waits for is deleted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}


def _process(until: dict[str, Any], timeout: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "business_process",
        "id": "await-payment",
        "name": "Await payment",
        "pipeline_id": "sales",
        "start_on": ["manual"],
        "nodes": [
            {
                "kind": "wait_for",
                "name": "Invoice paid?",
                "until": until,
                "timeout": timeout or {"days": 7},
                "received": [
                    {
                        "kind": "action",
                        "action": {
                            "kind": "notify",
                            "to": {"responsible": True},
                            "message": "{{ deal.title }}: paid ({{ run.event.kind }})",
                        },
                    }
                ],
                "timed_out": [{"kind": "action", "action": {"kind": "create_task", "title": "Chase {{ deal.title }}"}}],
            }
        ],
        **extra,
    }


def _problems(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def _put(stack: MotoStack, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return stack.api("PUT", f"/automation/{document['id']}", document, claims=ADMIN)


@pytest.mark.parametrize(
    ("until", "timeout", "field", "problem"),
    [
        ({"kind": "webhook", "event": "custom"}, None, "nodes.0.until.custom_event", "required for custom"),
        ({"kind": "webhook", "event": "invoice_sent"}, None, "nodes.0.until.event", "invoice_paid"),
        ({"kind": "stage_reached", "stage_id": "signed"}, None, "nodes.0.until.stage_id", "signed"),
        ({"kind": "step_done", "step_id": "sign"}, None, "nodes.0.until.step_id", "no step 'sign'"),
        ({"kind": "field", "condition": {"field": "budget", "op": "gte", "value": 1}}, None, "nodes.0.until", "budget"),
        ({"kind": "webhook", "event": "invoice_paid"}, {"days": 400}, "nodes.0.timeout", "a timeout of 400 days"),
        ({"kind": "webhook", "event": "invoice_paid"}, {"minutes": 0}, "nodes.0.timeout", "at least one minute"),
        (
            {"kind": "webhook", "event": "invoice_paid"},
            {"days": 1, "relative_to_field": "proposal_sent_on"},
            "nodes.0.timeout",
            "a fixed time",
        ),
    ],
)
def test_saving_refuses_a_wait_for_that_cannot_run_naming_the_field(
    stack: MotoStack, until: dict[str, Any], timeout: dict[str, Any] | None, field: str, problem: str
) -> None:
    status, body = _put(stack, _process(until, timeout))

    assert status == 422, body
    problems = _problems(body)
    assert any(at.startswith(field) and problem in text for at, text in problems.items()), problems
    assert "await-payment" not in stack.automation.load(TENANT).by_id


def test_a_valid_wait_for_is_saved_and_test_mode_says_what_it_would_wait_for(stack: MotoStack) -> None:
    assert _put(stack, _process({"kind": "webhook", "event": "invoice_paid"}))[0] in (200, 201)
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.drain()

    status, run = stack.api("POST", "/automation/await-payment/test", {"deal_id": "d-1"}, claims=ADMIN)

    assert status == 200, run
    [waited] = [s for s in run["steps"] if s["name"] == "Invoice paid?"]
    assert waited["outcome"] == "would wait"
    assert waited["detail"]["summary"] == "would wait for webhook event 'invoice_paid' up to 7 days"
    [notified] = [s for s in run["steps"] if s["kind"] == "action"]
    assert notified["detail"]["message"] == "Data migration: paid ()"
    assert stack.notifications() == [] and stack.tasks(TENANT) == []


def test_export_and_import_carry_a_wait_for_unchanged(stack: MotoStack) -> None:
    saved = _process({"kind": "stage_reached", "stage_id": "won"}, {"hours": 36})
    assert _put(stack, saved)[0] in (200, 201)
    status, document = stack.api("GET", "/export", claims=ADMIN)
    assert status == 200
    [exported] = [a for a in document["automation"] if a["id"] == "await-payment"]
    assert exported["nodes"][0]["until"] == {"kind": "stage_reached", "stage_id": "won"}
    assert exported["nodes"][0]["timeout"]["hours"] == 36

    edited = copy.deepcopy(document)
    [node] = next(a for a in edited["automation"] if a["id"] == "await-payment")["nodes"]
    node["until"] = {"kind": "stage_reached", "stage_id": "lost"}
    status, body = stack.api("POST", "/import", edited, claims=ADMIN, query={"dry_run": "false"})

    assert status == 200, body
    stored = stack.automation.load(TENANT).by_id["await-payment"]
    assert stored.nodes[0].until.stage_id == "lost"  # type: ignore[union-attr]


def test_deleting_the_stage_a_wait_for_waits_for_flags_the_process(stack: MotoStack) -> None:
    assert _put(stack, _process({"kind": "stage_reached", "pipeline_id": "renewals", "stage_id": "renewed"}))[0] in (
        200,
        201,
    )
    status, pipeline = stack.api("GET", "/pipelines/renewals", claims=ADMIN)
    assert status == 200, pipeline
    pipeline["stages"] = [s for s in pipeline["stages"] if s["id"] != "renewed"]

    status, body = stack.api("PUT", "/pipelines/renewals", pipeline, claims=ADMIN)

    assert status == 200, body
    warnings = stack.automation.load(TENANT).warnings["await-payment"]
    assert warnings == ["stage 'renewed' no longer exists in pipeline 'renewals' (nodes.0.until.stage_id)"]
