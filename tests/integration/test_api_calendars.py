"""Calendars through the management API: the tenant's and a user's own, 422s naming the field,
administrators only; and automation that counts working time or assigns, checked when saved."""

from __future__ import annotations

from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
OFFICE = {
    "time_zone": "Europe/Warsaw",
    "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "fri": ["09:00-15:00"]},
    "holidays": ["2026-12-25", "2026-12-26"],
}


def _problems(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def _rule(*actions: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": "route",
        "name": "Route",
        "pipeline_id": "sales",
        "stage_id": "new",
        "actions": list(actions),
        **parts,
    }


NOTE = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Hi"}


def test_the_tenant_calendar_is_set_read_and_removed(stack: MotoStack) -> None:
    assert stack.api("GET", "/calendar", claims=ANNA)[0] == 404
    status, body = stack.api("PUT", "/calendar", OFFICE, claims=ADMIN)
    assert status == 200 and body == OFFICE
    assert stack.api("GET", "/calendar", claims=ANNA) == (200, OFFICE)

    stack.api("PUT", "/automation/route", _rule({**NOTE, "within_working_hours": "tenant"}), claims=ADMIN)
    status, body = stack.api("DELETE", "/calendar", claims=ADMIN)
    assert status == 200 and body["calendar"] == OFFICE
    [broken] = body["broken_automation"]
    assert broken["id"] == "route"
    assert broken["warnings"] == ["the tenant's working calendar no longer exists (actions.0.within_working_hours)"]


def test_only_administrators_change_calendars(stack: MotoStack) -> None:
    status, body = stack.api("PUT", "/calendar", OFFICE, claims=ANNA)
    assert status == 403 and "only administrators may change calendar" in body["reason"]
    status, _ = stack.api("PUT", "/users/u-anna/calendar", {"time_zone": "UTC"}, claims=ANNA)
    assert status == 403


def test_a_calendar_that_cannot_be_worked_out_is_a_422_naming_the_field(stack: MotoStack) -> None:
    bad = {"time_zone": "Mars/Olympus", "hours": {"mon": ["09:00-12:00", "11:00-13:00"], "tue": ["5pm"]}}
    status, body = stack.api("PUT", "/calendar", bad, claims=ADMIN)
    assert status == 422
    problems = _problems(body)
    assert problems["time_zone"] == "'Mars/Olympus' is not an IANA time zone (such as Europe/Warsaw)"
    assert problems["hours.mon"] == "intervals overlap"


def test_a_users_own_calendar(stack: MotoStack) -> None:
    assert stack.api("GET", "/users/u-anna/calendar", claims=ANNA) == (
        200,
        {"user_id": "u-anna", "own": False, "time_zone": None, "hours": None, "out_of_office": []},
    )
    own = {"time_zone": "America/New_York", "out_of_office": [{"start": "2026-12-21", "end": "2026-12-31"}]}
    status, body = stack.api("PUT", "/users/u-anna/calendar", own, claims=ADMIN)
    assert status == 200 and body["own"] is True and body["out_of_office"] == own["out_of_office"]
    anna = stack.automation.get_tenant(TENANT).user("u-anna")
    assert anna is not None and anna.calendar is not None and anna.calendar.time_zone == "America/New_York"

    status, body = stack.api(
        "PUT", "/users/u-anna/calendar", {"out_of_office": [{"start": "2026-12-21", "end": "2026-12-01"}]}, claims=ADMIN
    )
    assert status == 422 and _problems(body) == {"out_of_office.0.end": "before start"}
    assert stack.api("PUT", "/users/u-nobody/calendar", own, claims=ADMIN)[0] == 404
    assert stack.api("DELETE", "/users/u-anna/calendar", claims=ADMIN)[1]["own"] is False


def test_saving_automation_that_needs_a_calendar_or_names_nobody_is_a_422(stack: MotoStack) -> None:
    status, body = stack.api("PUT", "/automation/route", _rule(NOTE, delay={"working_hours": 2}), claims=ADMIN)
    assert status == 422
    assert _problems(body)["delay.working_hours"] == "the tenant has no working calendar (set one with PUT /calendar)"

    assign = {"kind": "assign", "users": ["u-anna", "u-gone"]}
    status, body = stack.api("PUT", "/automation/route", _rule(assign), claims=ADMIN)
    assert status == 422 and _problems(body)["actions.0.users.1"] == "no user 'u-gone' in this tenant"

    status, body = stack.api("PUT", "/automation/route", _rule({"kind": "assign", "role": "intern"}), claims=ADMIN)
    assert status == 422 and _problems(body)["actions.0.role"].startswith("no role 'intern'")

    both = {"kind": "assign", "users": ["u-anna"], "role": "sales_rep"}
    status, body = stack.api("PUT", "/automation/route", _rule(both), claims=ADMIN)
    assert status == 422 and "name the users to choose among, or a role, not both" in str(body)

    mixed = {"working_hours": 2, "days": 1}
    status, body = stack.api("PUT", "/automation/route", _rule(NOTE, delay=mixed), claims=ADMIN)
    assert status == 422 and "working time cannot be mixed" in str(body)

    stack.api("PUT", "/calendar", OFFICE, claims=ADMIN)
    status, _ = stack.api("PUT", "/automation/route", _rule(NOTE, delay={"working_hours": 2}), claims=ADMIN)
    assert status in (200, 201)


def test_a_deleted_user_in_an_assign_action_is_a_warning(stack: MotoStack) -> None:
    assign = {"kind": "assign", "users": ["u-anna", "u-pm"], "skip_unavailable": True}
    assert stack.api("PUT", "/automation/route", _rule(assign), claims=ADMIN)[0] in (200, 201)
    tenant = stack.automation.get_tenant(TENANT)
    stack.put_tenant(tenant.model_copy(update={"users": [u for u in tenant.users if u.id != "u-pm"]}))
    status, body = stack.api("GET", "/warnings", claims=ADMIN)
    assert status == 200
    [route] = [i for i in body["items"] if i["automation_id"] == "route"]
    assert route["warnings"] == ["user 'u-pm' no longer exists (actions.0.users.1)"]


def test_the_calendar_travels_with_the_export_and_an_import_sets_or_removes_it(stack: MotoStack) -> None:
    stack.api("PUT", "/calendar", OFFICE, claims=ADMIN)
    held = {**NOTE, "within_working_hours": "tenant"}
    stack.api("PUT", "/automation/route", _rule(held, delay={"working_days": 1}), claims=ADMIN)
    status, document = stack.api("GET", "/export", claims=ADMIN)
    assert status == 200 and document["calendar"] == OFFICE
    route = next(a for a in document["automation"] if a["id"] == "route")
    assert route["delay"] == {"days": 0, "hours": 0, "minutes": 0, "working_days": 1}

    status, body = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "true"})
    assert status == 200 and {"kind": "calendar", "id": "calendar", "change": "unchanged"} in body["changes"]

    without = {k: v for k, v in document.items() if k != "calendar"}
    status, body = stack.api("POST", "/import", without, claims=ADMIN, query={"dry_run": "false"})
    assert status == 422  # the rule counts working time: the document must bring a calendar
    assert "automation.route.delay.working_days" in {p["field"] for p in body["problems"]}

    kept = {**without, "automation": [a for a in document["automation"] if a["id"] != "route"]}
    status, body = stack.api("POST", "/import", kept, claims=ADMIN, query={"dry_run": "false"})
    assert status == 200 and {"kind": "calendar", "id": "calendar", "change": "delete"} in body["changes"]
    assert stack.api("GET", "/calendar", claims=ADMIN)[0] == 404

    status, body = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "false"})
    assert status == 200 and {"kind": "calendar", "id": "calendar", "change": "create"} in body["changes"]
    assert stack.api("GET", "/calendar", claims=ADMIN) == (200, OFFICE)


def test_a_role_left_without_users_is_a_warning(stack: MotoStack) -> None:
    assign = {"kind": "assign", "role": "sales_manager"}
    assert stack.api("PUT", "/automation/route", _rule(assign), claims=ADMIN)[0] in (200, 201)
    tenant = stack.automation.get_tenant(TENANT)
    stack.put_tenant(tenant.model_copy(update={"users": [u for u in tenant.users if u.id != "u-head"]}))
    status, body = stack.api("GET", "/warnings", claims=ADMIN)
    assert status == 200
    [route] = [i for i in body["items"] if i["automation_id"] == "route"]
    assert route["warnings"] == ["role 'sales_manager' has no users any more (actions.0.role)"]
