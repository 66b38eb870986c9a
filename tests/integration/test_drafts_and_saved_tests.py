"""Drafts edited and tested while the published version keeps running, published as the next
version (runs keep the version they started on), and saved tests that pass, fail and block a
publish — through the management API on the demo tenant."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
PATH = "/automation/negotiation-check-in"


def _rule(message: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": "negotiation-check-in",
        "name": "A day into negotiation: tell the head",
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "condition": {"field": "amount", "op": "gte", "value": 5000},
        "delay": {"days": 1},
        "actions": [
            {"kind": "notify", "to": {"users": ["u-head"]}, "message": message},
            {"kind": "update_fields", "values": {"what_we_sell": {"value": "other"}}},
        ],
        **changes,
    }


def _call(stack: MotoStack, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    status, answer = stack.api(method, path, body, claims=ADMIN, **kw)
    assert status in (200, 201), (status, answer)
    return answer


def _enter_negotiation(stack: MotoStack, deal_id: str, amount: str = "9000.00") -> None:
    stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", amount, "services"))
    stack.move_deal(TENANT, deal_id, "negotiation")
    stack.drain()


def test_a_run_waiting_on_v1_finishes_as_v1_after_the_draft_is_published_as_v2(stack: MotoStack) -> None:
    _call(stack, "PUT", PATH, _rule("v1: check in on {{ deal.title }}"))
    _enter_negotiation(stack, "d-1")
    [waiting] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "negotiation-check-in"]
    assert waiting.status == "waiting"

    draft = _call(stack, "PUT", f"{PATH}/draft", _rule("v2: call {{ deal.title }} today"))
    assert (draft["based_on"], draft["saved_by"]) == (1, "u-admin")
    # The draft is not live: a deal entering now starts v1.
    _enter_negotiation(stack, "d-2")
    published = _call(stack, "POST", f"{PATH}/publish", {"message": "more urgent"})
    assert published["automation"]["version"] == 2 and published["tests"]["passed"] == 0
    assert stack.api("GET", f"{PATH}/draft", claims=ADMIN)[0] == 404  # published: no draft left
    _enter_negotiation(stack, "d-3")

    stack.advance(days=2)

    messages = sorted(n.message for n in stack.notifications() if "check in" in n.message or "call" in n.message)
    assert messages == ["v1: check in on Deal d-1", "v1: check in on Deal d-2", "v2: call Deal d-3 today"]
    versions = {
        r.deal_id: r.automation_version for r in stack.runs(TENANT) if r.automation_id == "negotiation-check-in"
    }
    assert versions == {"d-1": 1, "d-2": 1, "d-3": 2}
    history = _call(stack, "GET", f"{PATH}/versions")["items"]
    assert [(v["version"], v["message"]) for v in history] == [(2, "more urgent"), (1, None)]


def test_test_mode_on_the_draft_shows_the_draft_and_sends_nothing(stack: MotoStack) -> None:
    _call(stack, "PUT", PATH, _rule("published {{ deal.title }}"))
    _call(stack, "PUT", f"{PATH}/draft", _rule("drafted {{ deal.title }}"))
    deal = {"pipeline_id": "sales", "stage_id": "new", "title": "Trial", "amount": "6000"}

    run = _call(stack, "POST", f"{PATH}/draft/test", {"deal": deal})

    [notify] = [s for s in run["steps"] if s["name"] == "action-1-notify"]
    assert notify["detail"]["message"] == "drafted Trial"
    assert stack.notifications() == []
    assert (
        stack.automation.load(TENANT).by_id["negotiation-check-in"].actions[0].message == "published {{ deal.title }}"
    )


def test_a_draft_is_checked_as_a_save_and_only_by_administrators(stack: MotoStack) -> None:
    bad = _rule("x", stage_id="no-such-stage")
    status, body = stack.api("PUT", f"{PATH}/draft", bad, claims=ADMIN)
    assert status == 422 and "stage_id" in {p["field"] for p in body["problems"]}
    assert stack.api("PUT", f"{PATH}/draft", _rule("x"), claims=ANNA)[0] == 403
    assert stack.api("POST", f"{PATH}/publish", {}, claims=ADMIN)[0] == 404  # no draft


def test_publishing_over_a_newer_published_version_is_a_conflict(stack: MotoStack) -> None:
    _call(stack, "PUT", PATH, _rule("v1"))
    _call(stack, "PUT", f"{PATH}/draft", _rule("drafted"))
    _call(stack, "PUT", PATH, _rule("v2 by someone else", version=1))

    status, body = stack.api("POST", f"{PATH}/publish", {}, claims=ADMIN)

    assert status == 409 and body["current_version"] == 2
    assert stack.automation.load(TENANT).by_id["negotiation-check-in"].actions[0].message == "v2 by someone else"


def _saved_test(test_id: str, **expect: Any) -> dict[str, Any]:
    return {
        "id": test_id,
        "name": f"Test {test_id}",
        "deal": {"pipeline_id": "sales", "stage_id": "new", "title": "Big one", "amount": "20000"},
        "expect": expect,
    }


def test_saved_tests_pass_and_fail_with_expected_and_actual(stack: MotoStack) -> None:
    _call(stack, "PUT", PATH, _rule("Check in on {{ deal.title }}"))
    passing = _saved_test(
        "big-deal",
        starts=True,
        steps=["condition", "delay", "action-1-notify"],
        fields={"what_we_sell": "other", "stage_id": "negotiation"},
    )
    failing = _saved_test("wrong", starts=True, fields={"what_we_sell": "products"})
    small = {**_saved_test("small", starts=False), "deal": {**passing["deal"], "amount": "100"}}
    for test in (passing, failing, small):
        _call(stack, "PUT", f"{PATH}/tests/{test['id']}", test)
    assert [t["id"] for t in _call(stack, "GET", f"{PATH}/tests")["items"]] == ["big-deal", "small", "wrong"]

    report = _call(stack, "POST", f"{PATH}/tests/run", {})

    assert (report["tested"], report["passed"], report["failed"]) == ("version 1", 2, 1)
    results = {r["test_id"]: r for r in report["results"]}
    assert results["big-deal"]["passed"] and results["small"]["passed"]
    assert results["wrong"]["failures"] == [{"check": "fields.what_we_sell", "expected": "products", "actual": "other"}]
    assert stack.notifications() == [] and stack.runs(TENANT) == []  # nothing sent, nothing kept


def test_a_saved_test_of_a_change_starts_the_run_only_when_the_deal_enters_the_stage(stack: MotoStack) -> None:
    _call(stack, "PUT", PATH, _rule("Check in"))
    entering = {**_saved_test("entering", starts=True), "before": {"stage_id": "new"}}
    entering["deal"] = {**entering["deal"], "stage_id": "negotiation"}
    staying = {**entering, "id": "staying", "before": {"fields": {"what_we_sell": "products"}}}
    staying["expect"] = {"starts": False}
    _call(stack, "PUT", f"{PATH}/tests/entering", entering)
    _call(stack, "PUT", f"{PATH}/tests/staying", staying)

    report = _call(stack, "POST", f"{PATH}/tests/run", {})

    assert report["failed"] == 0, report


def test_e_mail_expectations_and_constants_of_a_saved_test(stack: MotoStack) -> None:
    test = {
        "id": "lost-mail",
        "name": "A lost deal mails the team",
        "deal": {"pipeline_id": "sales", "stage_id": "lost", "title": "Gone", "amount": "10", "currency": "EUR"},
        "constants": {"crm_url": {"type": "text", "value": "https://crm.test"}},
        "expect": {
            "emails": [
                {"to": "anna@acme.example", "subject_contains": "Lost: Gone", "body_contains": "https://crm.test/"},
                {"subject_contains": "Won"},
            ]
        },
    }
    _call(stack, "PUT", "/automation/lost-email/tests/lost-mail", test)

    report = _call(stack, "POST", "/automation/lost-email/tests/run", {})

    [result] = report["results"]
    [failure] = result["failures"]
    assert failure["check"] == "emails[1]" and failure["expected"] == {"subject_contains": "Won"}
    assert {m["subject"] for m in failure["actual"]} == {"Lost: Gone (10 EUR)"}  # what it would send


def test_a_failing_saved_test_blocks_publish_unless_forced(stack: MotoStack) -> None:
    _call(stack, "PUT", PATH, _rule("Check in"))
    _call(stack, "PUT", f"{PATH}/tests/big-deal", _saved_test("big-deal", starts=True))
    _call(stack, "PUT", f"{PATH}/draft", _rule("Check in", condition={"field": "amount", "op": "gte", "value": 50000}))

    status, body = stack.api("POST", f"{PATH}/publish", {"message": "raise the bar"}, claims=ADMIN)

    assert status == 409 and body["tests"]["failed"] == 1
    [failure] = body["tests"]["results"][0]["failures"]
    assert failure == {"check": "starts", "expected": True, "actual": False}
    assert stack.automation.load(TENANT).by_id["negotiation-check-in"].version == 1
    # The published version still passes; forced, the draft goes live and the report says what failed.
    assert _call(stack, "POST", f"{PATH}/tests/run", {})["failed"] == 0
    assert _call(stack, "POST", f"{PATH}/tests/run", {"draft": True})["failed"] == 1
    published = _call(stack, "POST", f"{PATH}/publish", {"force": True})
    assert published["automation"]["version"] == 2 and published["tests"]["failed"] == 1


def test_saved_tests_are_checked_when_saved(stack: MotoStack) -> None:
    test = _saved_test("t", fields={"no_such_field": 1})
    test["deal"] = {**test["deal"], "fields": {"what_we_sell": 5}}
    status, body = stack.api("PUT", "/automation/lost-email/tests/t", test, claims=ADMIN)
    assert status == 422
    fields = {p["field"] for p in body["problems"]}
    assert "deal.fields.what_we_sell" in fields or "expect.fields.no_such_field" in fields
    assert stack.api("PUT", "/automation/no-such/tests/t", _saved_test("t"), claims=ADMIN)[0] == 404
