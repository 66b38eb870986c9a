"""The management API on automation of every kind, driven with HTTP API v2 events (JWT claims)
through MotoStack.api against the demo tenant."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def _rule(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": "negotiation-alert",
        "name": "Big deal in negotiation",
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "condition": {"field": "amount", "op": "gte", "value": 10000},
        "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }} negotiating"}],
        **changes,
    }


def _fields(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def test_list_search_and_filter_by_kind(stack: MotoStack) -> None:
    status, body = stack.api("GET", "/automation", claims=ANNA)
    assert status == 200
    kinds = {a["id"]: a["kind"] for a in body["items"]}
    assert kinds["lost-email"] == "rule" and kinds["won-to-delivery"] == "tunnel"
    assert kinds["invoice-paid"] == "trigger"

    status, body = stack.api("GET", "/automation", claims=ANNA, query={"q": "E-MAIL"})
    assert [a["id"] for a in body["items"]] == ["lost-email"]

    status, body = stack.api("GET", "/automation", claims=ANNA, query={"kind": "trigger"})
    assert {a["kind"] for a in body["items"]} == {"trigger"} and len(body["items"]) == 3

    status, body = stack.api("GET", "/automation", claims=ANNA, query={"kind": "macro"})
    assert status == 422 and "kind" in _fields(body)


def test_get_one_and_unknown_id_is_404_naming_it(stack: MotoStack) -> None:
    status, body = stack.api("GET", "/automation/won-to-delivery", claims=ANNA)
    assert status == 200 and body["target_pipeline_id"] == "delivery"

    status, body = stack.api("GET", "/automation/no-such-rule", claims=ANNA)
    assert status == 404 and body["id"] == "no-such-rule" and "no-such-rule" in body["reason"]


def test_create_replace_with_versions_and_delete(stack: MotoStack) -> None:
    status, created = stack.api("PUT", "/automation/negotiation-alert", _rule(), claims=ADMIN)
    assert status == 201 and created["version"] == 1
    assert stack.automation.load(TENANT).by_id["negotiation-alert"].name == "Big deal in negotiation"

    status, replaced = stack.api("PUT", "/automation/negotiation-alert", _rule(name="Renamed"), claims=ADMIN)
    assert status == 200 and replaced["version"] == 2 and replaced["name"] == "Renamed"

    # Someone who read version 1 writes again: refused, nothing lost.
    status, body = stack.api("PUT", "/automation/negotiation-alert", _rule(name="Stale"), claims=ADMIN)
    assert status == 409 and body["error"] == "conflict" and body["current_version"] == 2
    assert stack.automation.load(TENANT).by_id["negotiation-alert"].name == "Renamed"

    status, body = stack.api("DELETE", "/automation/negotiation-alert", claims=ADMIN)
    assert status == 200 and (body["id"], body["cancelled_runs"]) == ("negotiation-alert", [])
    assert (body["cancellation"]["status"], body["cancellation"]["found"]) == ("done", 0)  # none waited
    assert "negotiation-alert" not in stack.automation.load(TENANT).by_id
    assert stack.api("DELETE", "/automation/negotiation-alert", claims=ADMIN)[0] == 404


def test_every_kind_can_be_stored(stack: MotoStack) -> None:
    tunnel = {
        "kind": "tunnel",
        "id": "lost-to-renewals",
        "name": "Lost → renewals",
        "pipeline_id": "sales",
        "stage_id": "lost",
        "target_pipeline_id": "renewals",
        "target_stage_id": "due",
        "mode": "move",
    }
    trigger = {
        "kind": "trigger",
        "id": "form",
        "name": "Web form",
        "pipeline_id": "sales",
        "stage_id": "proposal",
        "event": "field_changed",
        "field": "what_we_sell",
    }
    process = {
        "kind": "business_process",
        "id": "p",
        "name": "Process",
        "start_on": ["manual"],
        "nodes": [{"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": "hi"}}],
    }
    for item in (tunnel, trigger, process):
        status, body = stack.api("PUT", f"/automation/{item['id']}", item, claims=ADMIN)
        assert status == 201, body
        assert body["kind"] == item["kind"]
    assert {"lost-to-renewals", "form", "p"} <= set(stack.automation.load(TENANT).by_id)


def test_validation_errors_name_the_field(stack: MotoStack) -> None:
    broken = _rule(
        stage_id="nowhere",
        condition={"field": "budget", "op": "gt", "value": 1},
        actions=[
            {"kind": "notify", "to": {"users": ["u-ghost"]}, "message": "x"},
            {"kind": "move_to_stage", "stage_id": "kickoff"},
        ],
    )
    status, body = stack.api("PUT", "/automation/negotiation-alert", broken, claims=ADMIN)
    assert status == 422
    problems = _fields(body)
    assert "nowhere" in problems["stage_id"]
    assert "budget" in problems["condition.field"]
    assert "u-ghost" in problems["actions.0.to.users.0"]
    assert "kickoff" in problems["actions.1.stage_id"]
    assert "negotiation-alert" not in stack.automation.load(TENANT).by_id  # nothing written

    status, body = stack.api(
        "PUT",
        "/automation/negotiation-alert",
        _rule(
            pipeline_id="nope", actions=[{"kind": "send_email", "to": {}, "subject": "s", "body": "{{ ''.__class__ }}"}]
        ),
        claims=ADMIN,
    )
    assert status == 422
    problems = _fields(body)
    assert set(problems) == {"actions.0.to", "actions.0.body"}, problems  # model first, references after

    status, body = stack.api(
        "PUT",
        "/automation/lost-to-x",
        {
            "kind": "tunnel",
            "id": "lost-to-x",
            "name": "t",
            "pipeline_id": "sales",
            "stage_id": "lost",
            "target_pipeline_id": "delivery",
            "target_stage_id": "nowhere",
            "mode": "copy",
        },
        claims=ADMIN,
    )
    assert status == 422 and "nowhere" in _fields(body)["target_stage_id"]

    status, body = stack.api("PUT", "/automation/other-id", _rule(), claims=ADMIN)
    assert status == 422 and "other-id" in _fields(body)["id"]

    status, body = stack.api("PUT", "/automation/negotiation-alert", _rule(kind="macro"), claims=ADMIN)
    assert status == 422 and "macro" in _fields(body)["kind"]
    status, body = stack.api("PUT", "/automation/negotiation-alert", {"id": "negotiation-alert"}, claims=ADMIN)
    assert status == 422 and "kind" in _fields(body)

    status, body = stack.api("PUT", "/automation/negotiation-alert", _rule(colour="red"), claims=ADMIN)
    assert status == 422 and "colour" in _fields(body)

    status, body = stack.api(
        "PUT",
        "/automation/lost-email",
        _rule(id="lost-email", kind="trigger", event="invoice_paid", actions=None),
        claims=ADMIN,
    )
    assert status == 422


def test_a_rule_cannot_turn_into_another_kind_under_its_id(stack: MotoStack) -> None:
    trigger = {
        "kind": "trigger",
        "id": "lost-email",
        "name": "t",
        "pipeline_id": "sales",
        "stage_id": "won",
        "event": "invoice_paid",
    }
    status, body = stack.api("PUT", "/automation/lost-email", trigger, claims=ADMIN)
    assert status == 422 and "rule" in _fields(body)["kind"]


def test_malformed_json_is_400(stack: MotoStack) -> None:
    status, body = stack.api("PUT", "/automation/negotiation-alert", '{"kind": "rule",', claims=ADMIN)
    assert status == 400 and body["error"] == "malformed_json"
    status, body = stack.api("PUT", "/automation/negotiation-alert", None, claims=ADMIN)
    assert status == 422 and "body" in _fields(body)
    status, body = stack.api("PUT", "/automation/negotiation-alert", [_rule()], claims=ADMIN)
    assert status == 422


def test_a_body_too_big_to_store_is_413_before_it_is_parsed(stack: MotoStack) -> None:
    huge = _rule(
        actions=[
            {"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "s", "body": "x" * 99_000} for _ in range(4)
        ]
    )
    status, body = stack.api("PUT", "/automation/negotiation-alert", huge, claims=ADMIN)
    assert status == 413 and body["error"] == "payload_too_large"


def test_switching_off_cancels_waiting_runs_and_on_again(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.move_deal(TENANT, "d-1", "proposal")
    stack.drain()
    [waiting] = [r for r in stack.runs_of(TENANT, "proposal-follow-up") if r.status == "waiting"]

    status, body = stack.api("POST", "/automation/proposal-follow-up/disable", claims=ADMIN)
    assert status == 200 and body["automation"]["enabled"] is False
    assert body["cancelled_runs"] == [waiting.run_id]
    assert stack.run_log.get(TENANT, waiting.run_id).status == "cancelled"
    stack.advance(days=3)
    assert stack.emails() == []  # the follow-up never went out

    status, body = stack.api("POST", "/automation/proposal-follow-up/enable", claims=ADMIN)
    assert status == 200 and body["automation"]["enabled"] is True and body["cancelled_runs"] == []
    assert stack.automation.load(TENANT).by_id["proposal-follow-up"].enabled is True

    status, body = stack.api("GET", "/automation/proposal-follow-up/runs", claims=ANNA)
    assert status == 200 and [r["status"] for r in body["items"]] == ["cancelled"]


def test_test_mode_through_the_api_sends_and_writes_nothing(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services", company="Fabrikam"))
    stack.drain()
    before = stack.deals._table.scan()["Items"]

    status, run = stack.api("POST", "/automation/lost-email/test", {"deal_id": "d-1"}, claims=ADMIN)

    assert status == 200, run
    assert run["test"] is True and run["status"] == "completed"
    [email] = [s for s in run["steps"] if s["name"] == "action-1-send_email"]
    assert email["detail"]["subject"] == "Lost: Data migration (7300.00 EUR)"
    assert stack.emails() == [] and stack.notifications() == []
    assert stack.deals._table.scan()["Items"] == before
    assert stack.runs(TENANT, "d-1") == [] or all(not r.test for r in stack.runs(TENANT, "d-1"))
    assert [r.run_id for r in stack.test_runs(TENANT)] == [run["run_id"]]


def test_test_mode_on_a_described_deal_and_its_mistakes(stack: MotoStack) -> None:
    deal = {
        "pipeline_id": "sales",
        "stage_id": "new",
        "title": "What if",
        "amount": "1.00",
        "fields": {"what_we_sell": "products"},
    }
    status, run = stack.api("POST", "/automation/won-services-workgroup/test", {"deal": deal}, claims=ADMIN)
    assert status == 200 and run["status"] == "skipped"
    assert stack.get_deal(TENANT, "test-deal") is None

    status, body = stack.api("POST", "/automation/won-services-workgroup/test", {}, claims=ADMIN)
    assert status == 422 and "deal_id" in _fields(body)
    status, body = stack.api("POST", "/automation/won-services-workgroup/test", {"deal_id": "nope"}, claims=ADMIN)
    assert status == 404 and body["id"] == "nope"
    status, body = stack.api(
        "POST",
        "/automation/won-services-workgroup/test",
        {"deal": {**deal, "fields": {"what_we_sell": "cheese"}}},
        claims=ADMIN,
    )
    assert status == 422 and "cheese" in _fields(body)["fields.what_we_sell"]


def _ids(stack: MotoStack, **query: str) -> list[str]:
    status, body = stack.api("GET", "/automation", claims=ANNA, query=query)
    assert status == 200, body
    return [a["id"] for a in body["items"]]


def test_search_narrows_by_pipeline_stage_entity_kind_state_and_broken(stack: MotoStack) -> None:
    won = ["invoice-paid", "won-notify-head", "won-services-workgroup", "won-to-delivery"]
    assert _ids(stack, pipeline_id="leads") == ["lead-rejected", "lead-satisfied"]
    assert _ids(stack, pipeline_id="sales", stage_id="won") == won
    assert _ids(stack, stage_id="won", kind="rule") == ["won-notify-head", "won-services-workgroup"]
    assert _ids(stack, entity="lead") == ["lead-rejected", "lead-satisfied"]
    assert _ids(stack, entity="lead", kind="rule") == []
    assert _ids(stack, pipeline_id="gone") == []  # a deleted pipeline's id still finds what points at it

    assert stack.api("POST", "/automation/lost-email/disable", claims=ADMIN)[0] == 200
    assert _ids(stack, enabled="false") == ["lost-email"]
    assert "lost-email" not in _ids(stack, enabled="true") and "won-to-delivery" in _ids(stack, enabled="true")

    rule = _rule(
        stage_id="won",
        condition=None,
        actions=[{"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ const.crm_url }}"}],
    )
    assert stack.api("PUT", "/automation/negotiation-alert", rule, claims=ADMIN)[0] == 201
    assert stack.api("DELETE", "/constants/crm_url", claims=ADMIN)[0] == 200
    assert _ids(stack, broken="true") == ["lost-email", "negotiation-alert"]  # both name the constant
    assert _ids(stack, broken="false", stage_id="won") == won
    assert _ids(stack, broken="true", pipeline_id="leads") == []

    status, body = stack.api("GET", "/automation", claims=ANNA, query={"entity": "customer"})
    assert status == 422 and "entity" in _fields(body)


def test_a_repeated_put_changes_nothing_and_a_stale_one_says_what_to_send(stack: MotoStack) -> None:
    assert stack.api("PUT", "/automation/negotiation-alert", _rule(), claims=ADMIN)[0] == 201
    assert stack.api("PUT", "/automation/negotiation-alert", _rule(name="Renamed"), claims=ADMIN)[0] == 200
    version = stack.automation.load(TENANT).version

    # The same body again (version left out, so 1): what is stored already, nothing to write.
    status, body = stack.api("PUT", "/automation/negotiation-alert", _rule(name="Renamed"), claims=ADMIN)
    assert status == 200 and body["version"] == 2 and body["name"] == "Renamed"
    assert stack.automation.load(TENANT).version == version

    status, body = stack.api("PUT", "/automation/negotiation-alert", _rule(name="Other"), claims=ADMIN)
    assert status == 409 and body["current_version"] == 2
    assert 'send "version": 2 to overwrite it, or GET it first' in body["reason"]
    status, body = stack.api("PUT", "/automation/negotiation-alert", _rule(name="Other", version=2), claims=ADMIN)
    assert status == 200 and body["version"] == 3 and body["name"] == "Other"

    for path, item in (("/fields/budget", {"code": "budget", "name": "Budget", "kind": "number"}),):
        assert stack.api("PUT", path, item, claims=ADMIN)[0] == 201
        assert stack.api("PUT", path, {**item, "name": "Budget (EUR)"}, claims=ADMIN)[1]["version"] == 2
        assert stack.api("PUT", path, {**item, "name": "Budget (EUR)"}, claims=ADMIN)[1]["version"] == 2
        status, body = stack.api("PUT", path, {**item, "name": "Stale"}, claims=ADMIN)
        assert status == 409 and 'send "version": 2' in body["reason"]
    workflow = {"id": "w", "name": "W", "field_code": "budget", "pipeline_id": "sales", "step_id": "agree_terms"}
    assert stack.api("PUT", "/field-step-workflows/w", workflow, claims=ADMIN)[0] == 201
    assert stack.api("PUT", "/field-step-workflows/w", {**workflow, "name": "W2"}, claims=ADMIN)[0] == 200
    assert stack.api("PUT", "/field-step-workflows/w", {**workflow, "name": "W2"}, claims=ADMIN)[1]["version"] == 2
