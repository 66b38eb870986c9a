"""Every save is a version: history with author, time and message, diffs between any two,
rollback as a new version — for automation, pipelines, fields and constants alike."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_rules
from tests.integration.test_api_automation import _rule

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def _save(stack: MotoStack, path: str, body: dict[str, Any], message: str | None = None) -> dict[str, Any]:
    headers = {"X-Version-Message": message} if message else None
    status, answer = stack.api("PUT", path, body, claims=ADMIN, headers=headers)
    assert status in (200, 201), answer
    return answer


def test_each_save_is_a_version_with_author_time_and_message(stack: MotoStack) -> None:
    _save(stack, "/automation/negotiation-alert", _rule(), "first cut")
    _save(stack, "/automation/negotiation-alert", _rule(version=1, name="Renamed"), "clearer name")
    _save(stack, "/automation/negotiation-alert", _rule(version=2, name="Renamed", enabled=False))

    status, page = stack.api("GET", "/automation/negotiation-alert/versions", claims=ANNA)

    assert status == 200
    assert [(v["version"], v["saved_by"], v["message"]) for v in page["items"]] == [
        (3, "u-admin", None),
        (2, "u-admin", "clearer name"),
        (1, "u-admin", "first cut"),
    ]
    assert all(v["saved_at"] for v in page["items"]) and page["next_token"] is None
    status, one = stack.api("GET", "/automation/negotiation-alert/versions/2", claims=ANNA)
    assert status == 200 and one["body"]["name"] == "Renamed" and one["body"]["enabled"] is True
    assert one["body"]["condition"] == stack.api("GET", "/automation/negotiation-alert", claims=ANNA)[1]["condition"]


def test_versions_are_paged_newest_first(stack: MotoStack) -> None:
    for version in range(1, 6):  # each save sends the version it read
        _save(stack, "/automation/negotiation-alert", _rule(version=max(version - 1, 1), name=f"Name {version}"))

    seen, token = [], None
    while True:
        query = {"limit": "2", **({"next_token": token} if token else {})}
        status, page = stack.api("GET", "/automation/negotiation-alert/versions", claims=ADMIN, query=query)
        assert status == 200 and len(page["items"]) <= 2
        seen += [v["version"] for v in page["items"]]
        token = page["next_token"]
        if token is None:
            break
    assert seen == [5, 4, 3, 2, 1]


def test_diff_names_json_paths_with_before_and_after(stack: MotoStack) -> None:
    _save(stack, "/automation/negotiation-alert", _rule())
    changed = _rule(
        version=1,
        condition={"field": "amount", "op": "gte", "value": 20000},
        actions=[
            {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }} negotiating"},
            {"kind": "notify", "to": {"users": ["u-anna"]}, "message": "Look at {{ deal.title }}"},
        ],
    )
    _save(stack, "/automation/negotiation-alert", changed)

    status, diff = stack.api("GET", "/automation/negotiation-alert/diff", claims=ADMIN, query={"from": "1", "to": "2"})

    assert status == 200 and (diff["from_version"], diff["to_version"]) == (1, 2)
    by_path = {c["path"]: c for c in diff["changes"]}
    assert set(by_path) == {"$.condition.value", "$.actions[1]"}
    # Values as GET /automation shows them (a stored number comes back as exact text).
    assert (by_path["$.condition.value"]["before"], by_path["$.condition.value"]["after"]) == ("10000", "20000")
    assert by_path["$.condition.value"]["text"] == "condition.value: '10000' → '20000'"
    assert by_path["$.actions[1]"]["change"] == "added"
    # `to` left out: the newest version; the same version twice: nothing differs.
    status, same = stack.api("GET", "/automation/negotiation-alert/diff", claims=ADMIN, query={"from": "2"})
    assert status == 200 and same["changes"] == []


def test_rollback_saves_the_old_content_as_a_new_version(stack: MotoStack) -> None:
    _save(stack, "/automation/negotiation-alert", _rule())
    _save(stack, "/automation/negotiation-alert", _rule(version=1, name="Worse"))

    status, now = stack.api(
        "POST", "/automation/negotiation-alert/rollback", {"version": 1, "message": "back"}, claims=ADMIN
    )

    assert status == 200 and now["version"] == 3 and now["message"] == "back"
    live = stack.automation.load(TENANT).by_id["negotiation-alert"]
    assert (live.name, live.version) == ("Big deal in negotiation", 3)
    status, diff = stack.api("GET", "/automation/negotiation-alert/diff", claims=ADMIN, query={"from": "1", "to": "3"})
    assert diff["changes"] == []
    status, page = stack.api("GET", "/automation/negotiation-alert/versions", claims=ADMIN)
    assert [v["version"] for v in page["items"]] == [3, 2, 1]


def test_rollback_is_checked_as_a_save(stack: MotoStack) -> None:
    _save(stack, "/fields/budget", {"code": "budget", "name": "Budget", "kind": "number"})
    _save(stack, "/automation/negotiation-alert", _rule(condition={"field": "budget", "op": "gte", "value": 5}))
    _save(stack, "/automation/negotiation-alert", _rule(version=1))
    assert stack.api("DELETE", "/fields/budget", claims=ADMIN)[0] == 200

    status, body = stack.api("POST", "/automation/negotiation-alert/rollback", {"version": 1}, claims=ADMIN)

    assert status == 422 and "condition.field" in {p["field"] for p in body["problems"]}, body
    assert stack.automation.load(TENANT).by_id["negotiation-alert"].version == 2
    status, body = stack.api("POST", "/automation/lost-email/rollback", {"version": 99}, claims=ADMIN)
    assert status == 404 and "version 99" in body["reason"]
    status, body = stack.api("POST", "/automation/lost-email/rollback", {"version": 1}, claims=ANNA)
    assert status == 403


def test_pipelines_fields_and_constants_keep_versions_the_same_way(stack: MotoStack) -> None:
    status, pipeline = stack.api("GET", "/pipelines/sales", claims=ADMIN)
    renamed = {**pipeline, "name": "Sales (EU)"}
    _save(stack, "/pipelines/sales", renamed, "EU only")
    status, page = stack.api("GET", "/pipelines/sales/versions", claims=ADMIN)
    assert page["items"][0]["message"] == "EU only"
    newest = page["items"][0]["version"]
    assert newest == pipeline["version"] + 1
    status, body = stack.api("POST", "/pipelines/sales/rollback", {"version": newest}, claims=ADMIN)
    assert status == 200 and body["version"] == newest  # the same content: nothing new to save

    _save(stack, "/fields/budget", {"code": "budget", "name": "Budget", "kind": "number"}, "new field")
    _save(stack, "/fields/budget", {"code": "budget", "name": "Budget (EUR)", "kind": "number", "version": 1})
    status, now = stack.api("POST", "/fields/budget/rollback", {"version": 1}, claims=ADMIN)
    assert status == 200 and (now["version"], now["body"]["name"]) == (3, "Budget")
    assert stack.automation.load(TENANT).fields["budget"].name == "Budget"

    _save(stack, "/constants/vat_rate", {"type": "number", "value": "0.23"}, "standard rate")
    _save(stack, "/constants/vat_rate", {"type": "number", "value": "0.08"}, "reduced")
    status, page = stack.api("GET", "/constants/vat_rate/versions", claims=ADMIN)
    assert [(v["version"], v["message"]) for v in page["items"]] == [(2, "reduced"), (1, "standard rate")]
    status, diff = stack.api("GET", "/constants/vat_rate/diff", claims=ADMIN, query={"from": "1", "to": "2"})
    assert [c["path"] for c in diff["changes"]] == ["$.value"]
    status, now = stack.api("POST", "/constants/vat_rate/rollback", {"version": 1}, claims=ADMIN)
    assert status == 200 and now["version"] == 3 and now["message"] == "rollback to version 1"
    assert stack.api("GET", "/constants/vat_rate", claims=ADMIN)[1]["value"] in ("0.23", 0.23)


def test_a_deleted_automation_keeps_its_history_and_comes_back_by_rollback(stack: MotoStack) -> None:
    _save(stack, "/automation/negotiation-alert", _rule())
    _save(stack, "/automation/negotiation-alert", _rule(version=1, name="Second"))
    assert stack.api("DELETE", "/automation/negotiation-alert", claims=ADMIN)[0] == 200

    status, page = stack.api("GET", "/automation/negotiation-alert/versions", claims=ADMIN)
    assert status == 200 and [v["version"] for v in page["items"]] == [2, 1]

    status, now = stack.api("POST", "/automation/negotiation-alert/rollback", {"version": 1}, claims=ADMIN)

    assert status == 200 and now["version"] == 3  # numbered after its last version: no number names two
    assert stack.automation.load(TENANT).by_id["negotiation-alert"].name == "Big deal in negotiation"
    assert stack.api("GET", "/automation/never-was/versions", claims=ADMIN)[0] == 404


def test_two_contents_saved_under_one_number_show_as_the_one_saved_last(stack: MotoStack) -> None:
    """The harness saves edits without bumping the version: the history shows what is stored."""
    first = next(r for r in demo_rules() if r.id == "lost-email")
    stack.advance(minutes=1)
    stack.put_rule(TENANT, first.model_copy(update={"name": "Edited in place"}))

    status, page = stack.api("GET", "/automation/lost-email/versions", claims=ADMIN)

    assert [v["version"] for v in page["items"]] == [first.version]
    status, one = stack.api("GET", f"/automation/lost-email/versions/{first.version}", claims=ADMIN)
    assert status == 200 and one["body"]["name"] == "Edited in place"
