"""Who may call what: claims from the JWT authorizer only, administrators alone change automation,
fields and pipelines, and no tenant reaches another's items."""

from __future__ import annotations

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import PROCESS_TENANT, TENANT, demo_deal, set_up_process_tenant

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
GLOBEX_ADMIN = {"sub": "u-admin", "custom:tenant_id": PROCESS_TENANT, "custom:role": "admin"}

RULE = {
    "kind": "rule",
    "id": "lost-email",
    "name": "Hijacked",
    "pipeline_id": "sales",
    "stage_id": "lost",
    "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "x"}],
}
PIPELINE = {"id": "sales", "name": "Sales", "stages": [{"id": "new", "name": "New"}]}
FIELD = {"code": "what_we_sell", "name": "What", "kind": "text"}


@pytest.mark.parametrize(
    "claims",
    [
        None,
        {},
        {"sub": "u-admin", "custom:role": "admin"},
        {"sub": "u-admin", "custom:tenant_id": TENANT},
        {"custom:tenant_id": TENANT, "custom:role": "admin"},
        {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "superuser"},
        {"sub": "u-admin", "custom:tenant_id": "acme/../globex", "custom:role": "admin"},
    ],
)
def test_without_usable_claims_every_route_is_401(stack: MotoStack, claims: dict | None) -> None:
    for method, path in (
        ("GET", "/automation"),
        ("PUT", "/automation/lost-email"),
        ("GET", "/deals/d-1"),
        ("POST", "/deals"),
    ):
        status, body = stack.api(method, path, RULE if method != "GET" else None, claims=claims)
        assert status == 401 and body["error"] == "unauthorized", (method, path, body)


def test_openapi_and_swagger_need_no_token(stack: MotoStack) -> None:
    status, document = stack.api("GET", "/openapi.json")
    assert status == 200 and document["info"]["title"] == "Dealflow management API"
    status, page = stack.api("GET", "/swagger")
    assert status == 200 and "SwaggerUIBundle" in page and "cdn" not in page.lower()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/automation/lost-email", RULE),
        ("PUT", "/automation/new-one", {**RULE, "id": "new-one"}),
        ("DELETE", "/automation/lost-email", None),
        ("POST", "/automation/lost-email/disable", None),
        ("POST", "/automation/lost-email/enable", None),
        ("POST", "/automation/lost-email/test", {"deal_id": "d-1"}),
        ("PUT", "/pipelines/sales", PIPELINE),
        ("PUT", "/fields/what_we_sell", FIELD),
        ("PUT", "/automation/lost-email", {"broken": True}),  # refused for the role before the body is read
    ],
)
def test_a_sales_rep_may_not_change_automation_fields_or_pipelines(
    stack: MotoStack, method: str, path: str, body: dict | None
) -> None:
    before = stack.automation.definitions(TENANT)
    status, reply = stack.api(method, path, body, claims=ANNA)
    assert status == 403 and reply["error"] == "forbidden" and "administrators" in reply["reason"]
    assert stack.automation.definitions(TENANT) == before


def test_a_sales_rep_reads_automation_pipelines_fields_and_works_deals(stack: MotoStack) -> None:
    for path in (
        "/automation",
        "/automation/lost-email",
        "/pipelines",
        "/pipelines/sales",
        "/fields",
        "/automation/lost-email/runs",
    ):
        assert stack.api("GET", path, claims=ANNA)[0] == 200, path
    status, _ = stack.api("POST", "/deals", {"pipeline_id": "sales", "stage_id": "new", "title": "Mine"}, claims=ANNA)
    assert status == 201


def test_another_tenant_can_neither_see_nor_change_acmes_items(stack: MotoStack) -> None:
    set_up_process_tenant(stack)
    stack.create_deal(demo_deal("d-1", "Acme's deal", "100.00", "services"))
    acme_before = stack.automation.definitions(TENANT)

    reads = [
        "/automation/lost-email",
        "/automation/lost-email/runs",
        "/deals/d-1",
        "/deals/d-1/runs",
        "/pipelines/renewals",
    ]
    for path in reads:
        status, body = stack.api("GET", path, claims=GLOBEX_ADMIN)
        assert status == 404 and body["error"] == "not_found", (path, body)
    writes = [
        ("PATCH", "/deals/d-1", {"version": 1, "title": "Hijacked"}),
        ("POST", "/deals/d-1/move", {"stage_id": "won"}),
        ("DELETE", "/automation/lost-email", None),
        ("POST", "/automation/lost-email/disable", None),
        ("POST", "/automation/lost-email/test", {"deal_id": "d-1"}),
        ("POST", "/automation/deal-outcome/test", {"deal_id": "d-1"}),
    ]
    for method, path, body in writes:
        status, reply = stack.api(method, path, body, claims=GLOBEX_ADMIN)
        assert status == 404, (method, path, reply)

    # Its lists show only its own items; a PUT with acme's ids lands in globex, never in acme.
    status, listed = stack.api("GET", "/automation", claims=GLOBEX_ADMIN)
    assert [a["id"] for a in listed["items"]] == ["deal-outcome"]
    status, _ = stack.api("PUT", "/automation/lost-email", RULE, claims=GLOBEX_ADMIN)
    assert status == 201
    assert stack.automation.load(PROCESS_TENANT).by_id["lost-email"].name == "Hijacked"
    status, created = stack.api(
        "POST",
        "/deals",
        {"id": "d-1", "pipeline_id": "sales", "stage_id": "new", "title": "Globex's own d-1"},
        claims=GLOBEX_ADMIN,
    )
    assert status == 201 and created["tenant_id"] == PROCESS_TENANT
    assert stack.get_deal(TENANT, "d-1").title == "Acme's deal"
    assert stack.automation.definitions(TENANT) == acme_before


def test_a_token_for_a_tenant_that_does_not_exist_is_403(stack: MotoStack) -> None:
    status, body = stack.api("GET", "/automation", claims={**ADMIN, "custom:tenant_id": "initech"})
    assert status == 403 and "initech" in body["reason"]


def test_unknown_routes_are_404_json(stack: MotoStack) -> None:
    status, body = stack.api("GET", "/nowhere", claims=ANNA)
    assert status == 404 and body["error"] == "not_found"


def test_a_failure_on_our_side_is_a_logged_json_500_not_a_crash(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dealflow.store.deals import DealStore

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the table is on fire")

    monkeypatch.setattr(DealStore, "get", broken)
    status, body = stack.api("GET", "/deals/d-1", claims=ANNA)
    assert status == 500 and body["error"] == "internal" and "fire" not in body["reason"]
