"""What-if: an automation replayed over the tenant's recent real deal changes, which the dispatcher
keeps; would a run start (with the condition values), its steps and rendered texts in test mode,
beside what the published version did — and nothing sent or written."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import PROCESS_TENANT, TENANT, demo_deal, set_up_process_tenant

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
OTHER = {"sub": "u-admin", "custom:tenant_id": PROCESS_TENANT, "custom:role": "admin"}


def _rule(minimum: int) -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": "negotiation-alert",
        "name": "Big deal in negotiation",
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "condition": {"field": "amount", "op": "gte", "value": minimum},
        "actions": [
            {
                "kind": "send_email",
                "to": {"users": ["u-head"]},
                "subject": "Negotiating {{ deal.title }}",
                "body": "{{ deal.amount }} {{ deal.currency }}",
            }
        ],
    }


def _ten_changes(stack: MotoStack) -> None:
    """Five deals created in "new", then each moved into negotiation: three of 10,000 or more."""
    amounts = {"w-1": "25000.00", "w-2": "12000.00", "w-3": "10000.00", "w-4": "9999.99", "w-5": "500.00"}
    for deal_id, amount in amounts.items():
        stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", amount, "products"))
    stack.drain()
    for deal_id in amounts:
        stack.move_deal(TENANT, deal_id, "negotiation")
    stack.drain()


def test_a_candidate_would_fire_on_3_of_10_recent_changes_beside_what_the_published_one_did(stack: MotoStack) -> None:
    status, _ = stack.api("PUT", "/automation/negotiation-alert", _rule(20000), claims=ADMIN)
    assert status == 201
    _ten_changes(stack)
    sent = len(stack.emails())
    assert sent == 1  # the published rule: only the 25,000 deal

    status, report = stack.api(
        "POST", "/automation/negotiation-alert/what-if", {"last": 10, "automation": _rule(10000)}, claims=ADMIN
    )

    assert status == 200, report
    assert (report["changes"], report["would_start"], report["published_started"]) == (10, 3, 1)
    assert report["candidate"] is True
    items = report["items"]
    assert [i["deal_id"] for i in items] == ["w-5", "w-4", "w-3", "w-2", "w-1"] * 1 + [
        "w-5",
        "w-4",
        "w-3",
        "w-2",
        "w-1",
    ]
    verdicts = {(i["deal_id"], i["change"]["kind"]): i["verdict"] for i in items}
    assert verdicts == {
        **{(d, "created"): "not_concerned" for d in ("w-1", "w-2", "w-3", "w-4", "w-5")},
        ("w-1", "updated"): "would_start",
        ("w-2", "updated"): "would_start",
        ("w-3", "updated"): "would_start",
        ("w-4", "updated"): "would_not_start",
        ("w-5", "updated"): "would_not_start",
    }
    moved = {i["deal_id"]: i for i in items if i["change"]["kind"] == "updated"}
    assert moved["w-1"]["change"]["entered"] == ["sales", "negotiation"]
    [seen] = moved["w-4"]["conditions"]
    assert (seen["actual"], seen["value"], seen["result"]) == ("9999.99", 10000, False)
    assert moved["w-4"]["reason"] == "condition not met"

    run = moved["w-2"]["run"]
    [email] = [s for s in run["steps"] if s["kind"] == "action"]
    assert email["detail"]["subject"] == "Negotiating Deal w-2"
    assert email["detail"]["body"] == "12000.00 EUR"
    # Beside it, what the published version (20,000 or more) did with the same change.
    assert [p["status"] for p in moved["w-1"]["published"]] == ["completed"]
    assert [p["status"] for p in moved["w-2"]["published"]] == ["not_started"]

    assert len(stack.emails()) == sent  # nothing sent
    status, body = stack.api("GET", "/runs", claims=ADMIN, query={"test": "true"})
    assert status == 200 and body["items"] == []  # nor kept as test runs


def test_the_stored_automation_replays_as_itself_when_no_candidate_is_given(stack: MotoStack) -> None:
    stack.api("PUT", "/automation/negotiation-alert", _rule(20000), claims=ADMIN)
    _ten_changes(stack)

    status, report = stack.api("POST", "/automation/negotiation-alert/what-if", {"last": 10}, claims=ADMIN)

    assert status == 200, report
    assert (report["candidate"], report["would_start"], report["published_started"]) == (False, 1, 1)


def test_bounds_and_bad_candidates_are_422s_naming_the_field(stack: MotoStack) -> None:
    stack.api("PUT", "/automation/negotiation-alert", _rule(20000), claims=ADMIN)
    path = "/automation/negotiation-alert/what-if"
    cases = [
        ({"last": 201}, "last"),
        ({"last": 0}, "last"),
        ({"window_hours": 24 * 8}, "window_hours"),
        ({"since": "2026-12-01T00:00:00"}, "since"),
        ({"automation": {**_rule(1), "id": "other"}}, "automation.id"),
        (
            {"automation": {**_rule(1), "condition": {"field": "amount", "op": "gte", "value": {"const": "nope"}}}},
            "automation.condition.value.const",
        ),
    ]
    for body, field in cases:
        status, answer = stack.api("POST", path, body, claims=ADMIN)
        assert status == 422, (body, answer)
        assert field in {p["field"] for p in answer["problems"]}, answer


def test_another_tenants_automation_is_a_404_and_only_administrators_ask(stack: MotoStack) -> None:
    stack.api("PUT", "/automation/negotiation-alert", _rule(20000), claims=ADMIN)
    set_up_process_tenant(stack)

    status, body = stack.api("POST", "/automation/negotiation-alert/what-if", {}, claims=OTHER)
    assert status == 404 and body["id"] == "negotiation-alert"
    status, _ = stack.api("POST", "/automation/negotiation-alert/what-if", {}, claims=ANNA)
    assert status == 403
    status, body = stack.api("POST", "/automation/negotiation-alert/what-if", {"version": 99}, claims=ADMIN)
    assert status == 404 and body["id"] == "99"


def test_a_window_leaves_older_changes_out(stack: MotoStack) -> None:
    stack.api("PUT", "/automation/negotiation-alert", _rule(20000), claims=ADMIN)
    _ten_changes(stack)
    status, report = stack.api(
        "POST", "/automation/negotiation-alert/what-if", {"since": "2999-01-01T00:00:00Z"}, claims=ADMIN
    )
    assert status == 200 and report["changes"] == 0


def test_a_draft_is_replayed_while_the_published_version_keeps_running(stack: MotoStack) -> None:
    assert stack.api("PUT", "/automation/negotiation-alert", _rule(20000), claims=ADMIN)[0] == 201
    status, draft = stack.api("PUT", "/automation/negotiation-alert/draft", _rule(10000), claims=ADMIN)
    assert status in (200, 201), draft
    _ten_changes(stack)
    assert len(stack.emails()) == 1  # the published rule still decides: only the 25,000 deal

    status, report = stack.api(
        "POST", "/automation/negotiation-alert/what-if", {"last": 10, "draft": True}, claims=ADMIN
    )

    assert status == 200, report
    assert (report["changes"], report["would_start"], report["published_started"]) == (10, 3, 1)
    assert report["candidate"] is True
    assert len(stack.emails()) == 1  # nothing sent


def test_what_if_of_a_draft_that_does_not_exist_is_a_404(stack: MotoStack) -> None:
    assert stack.api("PUT", "/automation/negotiation-alert", _rule(20000), claims=ADMIN)[0] == 201
    status, body = stack.api("POST", "/automation/negotiation-alert/what-if", {"draft": True}, claims=ADMIN)
    assert status == 404, body
