"""Copying and moving automation between stages, pipelines and entities, one at a time and in bulk,
through the management API handler (HTTP API events with JWT claims) against the demo tenant."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Rule
from dealflow.model.plan import PlanName

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def _fields(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def _stored(stack: MotoStack) -> dict[str, Any]:
    return stack.automation.load(TENANT).by_id


def _put_stage_mover(stack: MotoStack) -> None:
    rule = {
        "kind": "rule",
        "id": "proposal-to-negotiation",
        "name": "Proposal seen: negotiate",
        "pipeline_id": "sales",
        "stage_id": "proposal",
        "actions": [{"kind": "move_to_stage", "stage_id": "negotiation"}],
    }
    assert stack.api("PUT", "/automation/proposal-to-negotiation", rule, claims=ADMIN)[0] == 201


def test_copy_to_another_stage_gets_a_new_id_and_runs_there(stack: MotoStack) -> None:
    status, copy = stack.api("POST", "/automation/won-notify-head/copy", {"stage_id": "negotiation"}, claims=ADMIN)
    assert status == 201, copy
    assert copy["id"] == "won-notify-head-copy" and copy["version"] == 1
    assert (copy["pipeline_id"], copy["stage_id"]) == ("sales", "negotiation")
    assert _stored(stack)["won-notify-head"].stage_id == "won"  # the original stays

    status, again = stack.api(
        "POST",
        "/automation/won-notify-head/copy",
        {"stage_id": "lost", "name": "Lost: tell the head", "enabled": False},
        claims=ADMIN,
    )
    assert status == 201 and again["id"] == "won-notify-head-copy-2"
    assert again["name"] == "Lost: tell the head" and again["enabled"] is False

    stack.create_deal(demo_deal("deal-77", "Copied rule deal", "900.00", "products"))
    stack.move_deal(TENANT, "deal-77", "negotiation")
    stack.drain()
    assert any("Copied rule deal" in n.message for n in stack.notifications())


def test_copy_refuses_a_taken_id_an_unknown_stage_and_a_sales_rep(stack: MotoStack) -> None:
    status, body = stack.api("POST", "/automation/won-notify-head/copy", {"id": "lost-email"}, claims=ADMIN)
    assert status == 409 and body["id"] == "lost-email"

    status, body = stack.api(
        "POST", "/automation/won-notify-head/copy", {"pipeline_id": "renewals", "stage_id": "nowhere"}, claims=ADMIN
    )
    assert status == 422 and "nowhere" in _fields(body)["stage_id"]

    assert stack.api("POST", "/automation/won-notify-head/copy", {}, claims=ANNA)[0] == 403
    assert stack.api("POST", "/automation/no-such/copy", {}, claims=ADMIN)[0] == 404
    assert set(_stored(stack)) == {
        "won-services-workgroup",
        "won-notify-head",
        "lost-email",
        "proposal-follow-up",
        "won-to-delivery",
        "lead-satisfied",
        "lead-rejected",
        "invoice-paid",
    }


def test_move_to_the_lead_pipeline_checks_stage_moves_against_it(stack: MotoStack) -> None:
    _put_stage_mover(stack)
    # The lead pipeline has no "negotiation" stage: the rule's stage move would dangle.
    status, body = stack.api(
        "POST", "/automation/proposal-to-negotiation/move", {"pipeline_id": "leads", "stage_id": "new"}, claims=ADMIN
    )
    assert status == 422 and "negotiation" in _fields(body)["actions.0.stage_id"]
    assert _stored(stack)["proposal-to-negotiation"].pipeline_id == "sales"

    status, moved = stack.api(
        "POST",
        "/automation/won-notify-head/move",
        {"pipeline_id": "leads", "stage_id": "need_satisfied", "version": 1},
        claims=ADMIN,
    )
    assert status == 200 and moved["version"] == 2
    assert (moved["pipeline_id"], moved["stage_id"]) == ("leads", "need_satisfied")
    assert _stored(stack)["won-notify-head"].pipeline_id == "leads"

    status, body = stack.api(
        "POST", "/automation/won-notify-head/move", {"stage_id": "new", "version": 1}, claims=ADMIN
    )
    assert status == 409 and body["current_version"] == 2


def test_move_a_business_process_to_leads(stack: MotoStack) -> None:
    process = {
        "kind": "business_process",
        "id": "welcome",
        "name": "Welcome",
        "start_on": ["add"],
        "pipeline_id": "sales",
        "nodes": [
            {
                "kind": "action",
                "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": "New: {{ deal.title }}"},
            }
        ],
    }
    assert stack.api("PUT", "/automation/welcome", process, claims=ADMIN)[0] == 201
    status, moved = stack.api("POST", "/automation/welcome/move", {"pipeline_id": "leads"}, claims=ADMIN)
    assert status == 200 and (moved["entity"], moved["pipeline_id"]) == ("lead", "leads")


def test_bulk_move_all_rules_of_a_stage(stack: MotoStack) -> None:
    status, body = stack.api(
        "POST",
        "/automation/bulk",
        {
            "operation": "move",
            "select": {"kind": "rule", "pipeline_id": "sales", "stage_id": "won"},
            "target": {"pipeline_id": "renewals", "stage_map": {"won": "renewed"}},
        },
        claims=ADMIN,
    )
    assert status == 200, body
    assert sorted(a["id"] for a in body["changed"]) == ["won-notify-head", "won-services-workgroup"]
    stored = _stored(stack)
    for automation_id in ("won-notify-head", "won-services-workgroup"):
        assert (stored[automation_id].pipeline_id, stored[automation_id].stage_id) == ("renewals", "renewed")
        assert stored[automation_id].version == 2
    # The tunnel and the trigger on the same stage were not chosen.
    assert stored["won-to-delivery"].pipeline_id == "sales" and stored["invoice-paid"].stage_id == "won"


def test_bulk_with_one_bad_item_writes_nothing(stack: MotoStack) -> None:
    _put_stage_mover(stack)
    before = {a.id: (a.pipeline_id, a.version) for a in _stored(stack).values()}
    status, body = stack.api(
        "POST",
        "/automation/bulk",
        {
            "operation": "move",
            "ids": ["lost-email", "proposal-to-negotiation", "proposal-follow-up"],
            "target": {"pipeline_id": "leads", "stage_map": {"lost": "rejected", "proposal": "qualified"}},
        },
        claims=ADMIN,
    )
    assert status == 422
    assert set(_fields(body)) == {"items.proposal-to-negotiation.actions.0.stage_id"}
    assert {a.id: (a.pipeline_id, a.version) for a in _stored(stack).values()} == before

    status, body = stack.api(
        "POST", "/automation/bulk", {"operation": "delete", "ids": ["lost-email", "nope"]}, claims=ADMIN
    )
    assert status == 422 and set(_fields(body)) == {"ids.1"}
    assert "lost-email" in _stored(stack)


def test_bulk_copy_switch_and_delete(stack: MotoStack) -> None:
    status, body = stack.api(
        "POST",
        "/automation/bulk",
        {"operation": "copy", "select": {"entity": "lead"}, "target": {"pipeline_id": "leads"}},
        claims=ADMIN,
    )
    assert status == 200
    assert sorted(a["id"] for a in body["changed"]) == ["lead-rejected-copy", "lead-satisfied-copy"]

    status, body = stack.api(
        "POST", "/automation/bulk", {"operation": "disable", "select": {"q": "-copy"}}, claims=ADMIN
    )
    assert status == 200 and {a["enabled"] for a in body["changed"]} == {False} and len(body["changed"]) == 2

    status, body = stack.api(
        "POST", "/automation/bulk", {"operation": "delete", "select": {"q": "-copy"}}, claims=ADMIN
    )
    assert status == 200 and sorted(body["deleted"]) == ["lead-rejected-copy", "lead-satisfied-copy"]
    assert not any(i.endswith("-copy") for i in _stored(stack))


def test_bulk_disable_cancels_waiting_runs(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("deal-90", "Waiting follow-up", "1000.00", "services"))
    stack.move_deal(TENANT, "deal-90", "proposal")
    stack.drain()
    assert any(run.status == "waiting" for run in stack.runs(TENANT))
    status, body = stack.api(
        "POST", "/automation/bulk", {"operation": "disable", "ids": ["proposal-follow-up"]}, claims=ADMIN
    )
    assert status == 200 and len(body["cancelled_runs"]) == 1
    stack.advance(days=3)
    assert not any("Follow up" in e.subject for e in stack.emails())


def test_bulk_refuses_bad_requests(stack: MotoStack) -> None:
    status, body = stack.api("POST", "/automation/bulk", {"operation": "move", "ids": ["lost-email"]}, claims=ADMIN)
    assert status == 422 and "target" in _fields(body)
    status, body = stack.api("POST", "/automation/bulk", {"operation": "enable"}, claims=ADMIN)
    assert status == 422 and "ids" in _fields(body)
    status, body = stack.api(
        "POST", "/automation/bulk", {"operation": "copy", "ids": ["lost-email"] * 100, "target": {}}, claims=ADMIN
    )
    assert status == 200 and len(body["changed"]) == 1  # the same id named twice is one item
    assert stack.api("POST", "/automation/bulk", {"operation": "delete", "ids": ["lost-email"]}, claims=ANNA)[0] == 403


def test_a_tunnel_cannot_be_moved_into_its_own_target_pipeline(stack: MotoStack) -> None:
    status, body = stack.api(
        "POST",
        "/automation/bulk",
        {
            "operation": "copy",
            "select": {"stage_id": "won", "pipeline_id": "sales"},
            "target": {"pipeline_id": "delivery", "stage_id": "delivered"},
        },
        claims=ADMIN,
    )
    assert status == 422
    assert "another pipeline" in _fields(body)["items.won-to-delivery.target_pipeline_id"]
    assert not any(i.endswith("-copy") for i in _stored(stack))


def _big_rules(stack: MotoStack, count: int, body_bytes: int) -> None:
    """``count`` rules on sales/new, each e-mailing a ``body_bytes`` text, stored a few at a time."""
    tenant = stack.automation.get_tenant(TENANT)
    stack.automation.put_tenant(tenant.model_copy(update={"plan": PlanName.ENTERPRISE}))
    mail = {"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "Hello", "body": "x" * body_bytes}
    rules = [
        Rule.model_validate(
            {"id": f"big-{n:03d}", "name": f"Big {n}", "pipeline_id": "sales", "stage_id": "new", "actions": [mail]}
        )
        for n in range(count)
    ]
    for start in range(0, count, 20):
        stack.automation.write_definitions(TENANT, [(rule, None) for rule in rules[start : start + 20]])


def test_a_bulk_copy_over_four_megabytes_is_refused_naming_the_limit(stack: MotoStack) -> None:
    _big_rules(stack, 70, 60_000)  # 70 copies of 60 KB: 4.2 MB, more than one transaction takes

    status, body = stack.api(
        "POST", "/automation/bulk", {"operation": "copy", "select": {"q": "big-"}, "target": {}}, claims=ADMIN
    )

    assert status == 413 and (body["limit"], body["max"]) == ("transaction_bytes", 4_000_000), body
    assert "one DynamoDB transaction takes at most 4,000,000" in body["reason"]
    assert not any(i.endswith("-copy") for i in _stored(stack))
    # 60 of them (3.6 MB) are one transaction: copied whole.
    status, body = stack.api(
        "POST",
        "/automation/bulk",
        {"operation": "copy", "ids": [f"big-{n:03d}" for n in range(60)], "target": {}},
        claims=ADMIN,
    )
    assert status == 200 and len(body["changed"]) == 60
