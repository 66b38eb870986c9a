"""Tenant isolation for every operation in the committed OpenAPI document: globex's administrator
calls each one with acme's ids and a plausible body, and never sees or changes an acme item.

The operations come from openapi.json, so a route added later is covered without editing this
file — unless it has a path parameter or a body this file cannot fill, and then the test fails
and says what to add, so no route slips through untested."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from dealflow import runtime
from dealflow.local import MotoStack
from dealflow.local.demo import PROCESS_TENANT, TENANT, demo_deal, set_up_process_tenant
from dealflow.model import FieldDefinition

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text())
OPERATIONS = [
    (method.upper(), path) for path, operations in sorted(DOCUMENT["paths"].items()) for method in sorted(operations)
]

ACME_ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
GLOBEX_ADMIN = {"sub": "u-admin", "custom:tenant_id": PROCESS_TENANT, "custom:role": "admin"}
ACME_DEAL = "d-acme-1"
# Path parameter → an id that exists in acme and not in globex, so any 2xx on it is a leak.
ACME_IDS = {
    "automation_id": "lost-email",
    "deal_id": ACME_DEAL,
    "pipeline_id": "renewals",
    "code": "budget_owner",
    "name": "acme_only",
    "workflow_id": "proposal-sent",
    "step_id": "qualify",
    "role": "sales_rep",
    "version": "1",
    "test_id": "acme-test",
    "user_id": "u-anna",
}
# Names every tenant has (roles, the demo's step names, version numbers): not a leak when a tenant
# lists its own.
SHARED_NAMES = frozenset({"step_id", "role", "version", "user_id"})
# Filled in once acme has a run and a cancellation job: their ids are made by the engine.
# Bodies a globex administrator could plausibly send. PUTs not listed here send acme's own item as
# acme's administrator reads it at the same path: the most tempting body there is.
BODIES: dict[str, Any] = {
    "PATCH /deals/{deal_id}": {"version": 1, "title": "Taken over", "amount": "1.00"},
    "POST /deals/{deal_id}/move": {"stage_id": "won", "version": 1},
    "POST /automation/{automation_id}/test": {"deal_id": ACME_DEAL},
    "POST /automation/{automation_id}/what-if": {"last": 10},
    "PUT /fields/{code}": {"code": "budget_owner", "name": "Budget owner", "kind": "text"},
    "PUT /users/{user_id}/calendar": {"out_of_office": [{"start": "2026-12-21", "end": "2027-01-03"}]},
    "POST /deals": {"id": ACME_DEAL, "pipeline_id": "sales", "stage_id": "new", "title": "Globex's own deal"},
    "POST /automation/{automation_id}/copy": {"pipeline_id": "sales", "stage_id": "new"},
    "POST /automation/{automation_id}/move": {"pipeline_id": "sales", "stage_id": "new"},
    "POST /automation/bulk": {"operation": "disable", "ids": ["lost-email"]},
    "POST /deals/{deal_id}/steps/{step_id}": {"done": True},
    "POST /deals/{deal_id}/runs": {"process_id": "follow-up", "parameters": {}},
    "POST /runs/{run_id}/retry": {"from": "start", "version": "current"},
    "POST /runs/retry": {"limit": 10},
    "POST /runs/{run_id}/resume": {},
    "PUT /rights/{role}": {"deals": {"read": True, "write": True, "fields": {"amount": "hidden"}}},
    "PUT /automation/{automation_id}/draft": {
        "kind": "rule",
        "id": "lost-email",
        "name": "Globex's own draft",
        "pipeline_id": "sales",
        "stage_id": "lost",
        "actions": [],
    },
    "POST /automation/{automation_id}/draft/test": {"deal_id": ACME_DEAL},
    "POST /automation/{automation_id}/publish": {"force": True},
    "POST /automation/{automation_id}/tests/run": {"draft": False},
    **{
        f"POST {path}/rollback": {"version": 1}
        for path in ("/automation/{automation_id}", "/pipelines/{pipeline_id}", "/fields/{code}", "/constants/{name}")
    },
    # The document now states the import's body: an empty document, only listed (a dry run).
    "POST /import": {"format": "dealflow/v1", "automation": [], "constants": {}},
}
# Paths whose single item is the tenant's own, whatever the id: a role's rights in the caller's tenant.
# Items named by what every tenant has (a role's rights, a user's calendar: the demo's tenants share
# user ids): another tenant's request reaches its own item of that name, never acme's.
OWN_ITEMS = frozenset({"/rights/{role}", "/users/{user_id}/calendar"})


def _creates_in_own_tenant(method: str, path: str) -> bool:
    """PUT creates or replaces at the caller's own id; POST on a collection creates. Only these may
    answer 2xx to another tenant's ids — in the caller's tenant."""
    return method == "PUT" or (method == "POST" and "{" not in path) or (method == "DELETE" and path in OWN_ITEMS)


def _lists_own_items(method: str, path: str) -> bool:
    return method == "GET" and ("{" not in path or path in OWN_ITEMS)


def _acme_deals() -> list[dict[str, Any]]:
    table, found, params = runtime.tables().deals, [], {"KeyConditionExpression": Key("tenant_id").eq(TENANT)}
    while True:
        page = table.query(ConsistentRead=True, **params)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(found, key=lambda item: item["id"])
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _acme(stack: MotoStack) -> dict[str, Any]:
    """Everything of acme's another tenant must not change."""
    return {
        "tenant": stack.automation.get_tenant(TENANT),
        "definitions": stack.automation.definitions(TENANT),
        "deals": _acme_deals(),
        "runs": stack.run_log.all(TENANT),
        "test runs": stack.run_log.all(TENANT, test=True),
        "draft": stack.automation.drafts.get(TENANT, "lost-email"),
        "saved tests": stack.automation.saved_tests.list(TENANT, "lost-email"),
        "versions": stack.automation.history.page(TENANT, "automation", "lost-email", 100),
    }


def _concrete(path: str) -> str:
    parameters = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
    unknown = [name for name in parameters if name not in ACME_IDS]
    assert not unknown, f"{path}: add an acme id for the path parameters {unknown} to ACME_IDS"
    for name in parameters:
        path = path.replace("{" + name + "}", ACME_IDS[name])
    return path


def _body(stack: MotoStack, method: str, path: str, concrete: str) -> Any:
    operation = DOCUMENT["paths"][path][method.lower()]
    if "requestBody" not in operation:
        return None
    key = f"{method} {path}"
    if key in BODIES:
        return BODIES[key]
    assert method == "PUT" and "get" in DOCUMENT["paths"][path], f"{key}: add a plausible body to BODIES"
    status, item = stack.api("GET", concrete, claims=ACME_ADMIN)
    assert status == 200, (concrete, item)
    return item


def _set_up_acme_items(stack: MotoStack) -> None:
    set_up_process_tenant(stack)
    stack.create_deal(demo_deal(ACME_DEAL, "Acme's deal", "100.00", "services"))
    stack.put_field(TENANT, FieldDefinition(code="budget_owner", name="Budget owner", kind="text"))
    for kind in ("constants", "variables"):
        assert stack.api("PUT", f"/{kind}/acme_only", {"type": "text", "value": "acme's"}, claims=ACME_ADMIN)[0] == 201
    # Acme's working calendars: another tenant's PUT or DELETE changes its own, never acme's.
    calendar = {"time_zone": "Europe/Warsaw", "hours": {"mon": ["09:00-17:00"]}, "holidays": ["2026-12-24"]}
    assert stack.api("PUT", "/calendar", calendar, claims=ACME_ADMIN)[0] in (200, 201)
    own = {"out_of_office": [{"start": "2026-12-28", "end": "2026-12-31"}]}
    assert stack.api("PUT", "/users/u-anna/calendar", own, claims=ACME_ADMIN)[0] in (200, 201)
    # Runs, real and test ones, in acme's log: another tenant must neither see nor add to them.
    stack.move_deal(TENANT, ACME_DEAL, "lost")
    stack.drain()
    status, _ = stack.api("POST", "/automation/lost-email/test", {"deal_id": ACME_DEAL}, claims=ACME_ADMIN)
    assert status == 200
    ACME_IDS["run_id"] = stack.run_log.all(TENANT)[0].run_id
    # A cancellation job of acme's (switching automation off records one): another tenant must not read it.
    status, switched = stack.api("POST", "/automation/lost-email/disable", claims=ACME_ADMIN)
    assert status == 200
    ACME_IDS["job_id"] = switched["cancellation"]["job_id"]
    # A draft and a saved test of acme's: another tenant must neither read, run nor publish them.
    status, rule = stack.api("GET", "/automation/lost-email", claims=ACME_ADMIN)
    assert stack.api("PUT", "/automation/lost-email/draft", rule, claims=ACME_ADMIN)[0] == 201
    test = {
        "id": "acme-test",
        "name": "Acme's test",
        "deal": {"pipeline_id": "sales", "stage_id": "new", "title": "Acme's test deal"},
        "expect": {"starts": True},
    }
    assert stack.api("PUT", "/automation/lost-email/tests/acme-test", test, claims=ACME_ADMIN)[0] == 201


def test_the_acme_ids_exist_in_acme_only(stack: MotoStack) -> None:
    _set_up_acme_items(stack)
    assert stack.run_log.all(TENANT) and stack.run_log.all(TENANT, test=True)
    for method, path in OPERATIONS:
        if method == "GET" and "{" in path and path.count("{") == 1 and path.endswith("}"):
            concrete = _concrete(path)
            assert stack.api("GET", concrete, claims=ACME_ADMIN)[0] == 200, concrete
            assert stack.api("GET", concrete, claims=GLOBEX_ADMIN)[0] == (200 if path in OWN_ITEMS else 404), concrete


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_another_tenants_ids_reveal_and_change_nothing(stack: MotoStack, method: str, path: str) -> None:
    _set_up_acme_items(stack)
    concrete = _concrete(path)
    body = _body(stack, method, path, concrete)
    before = _acme(stack)

    status, reply = stack.api(method, concrete, body, claims=GLOBEX_ADMIN)

    if _creates_in_own_tenant(method, path) or _lists_own_items(method, path):
        assert status < 500, (status, reply)
        if status < 300:
            text = json.dumps(reply)
            assert f'"tenant_id": "{TENANT}"' not in text, reply
            if _lists_own_items(method, path):
                leaked = [acme_id for name, acme_id in ACME_IDS.items() if name not in SHARED_NAMES and acme_id in text]
                assert not leaked, (leaked, reply)
    else:
        # Reads and changes of one item: it is not globex's, so it does not exist for globex.
        assert status in (403, 404), (status, reply)
    stack.drain()
    assert _acme(stack) == before
