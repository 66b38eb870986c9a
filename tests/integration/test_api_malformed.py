"""A corpus of malformed requests across the management API's routes: deep nesting, numbers too big
or too small for DynamoDB, NaN and Infinity, over-long strings, wrong types, unknown query
parameters, path parameters that could name nothing. Each is a 4xx whose JSON body names the field,
never a 500, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import set_up
from dealflow.local.server import LocalApi

ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
DEAL = {"pipeline_id": "sales", "stage_id": "new", "title": "Checked"}


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": value}
    return value


def _raw(text: str) -> str:
    return text  # a str body is sent as it is: JSON Python would write differently (NaN, 1e999)


# (method, path, body, query, status, field named)
CORPUS: list[tuple[str, str, Any, dict[str, str] | None, int, str]] = [
    # nesting: refused before anything recurses, naming where the limit was passed
    ("POST", "/deals", {**DEAL, "fields": {"notes": _nested(40)}}, None, 400, "fields.notes." + ".".join(["x"] * 30)),
    ("POST", "/deals", _raw("[" * 5000 + "]" * 5000), None, 400, "body"),
    ("PUT", "/constants/rate", _raw('{"type": "text", "value": ' + "[" * 100 + "]" * 100 + "}"), None, 400, "value"),
    ("PATCH", "/deals/deal-1001", {"version": 1, "fields": {"notes": _nested(33)}}, None, 400, "fields.notes"),
    # numbers DynamoDB cannot store: in a JSON number or in text, in every kind of number field
    ("POST", "/deals", {**DEAL, "amount": "1e200"}, None, 422, "amount"),
    (
        "POST",
        "/deals",
        _raw('{"pipeline_id": "sales", "stage_id": "new", "title": "t", "amount": 1e999}'),
        None,
        422,
        "amount",
    ),
    ("POST", "/deals", {**DEAL, "amount": "1" * 39}, None, 422, "amount"),
    ("POST", "/deals", {**DEAL, "amount": "1e-131"}, None, 422, "amount"),
    ("POST", "/deals", {**DEAL, "fields": {"what_we_sell": "services", "score": 10**60}}, None, 422, "fields.score"),
    ("PATCH", "/deals/deal-1001", {"version": 1, "amount": "-9e126"}, None, 422, "amount"),
    ("PUT", "/constants/rate", {"type": "number", "value": "1e500"}, None, 422, "value"),
    ("PUT", "/constants/rate", {"type": "number", "value": "1e-200"}, None, 422, "value"),
    ("PUT", "/variables/pct", {"type": "number", "value": 1e300}, None, 422, "value"),
    ("PUT", "/variables/pct", _raw('{"type": "number", "value": ' + "9" * 5000 + "}"), None, 422, "value"),
    # NaN and Infinity are not JSON (Python's parser would take them)
    (
        "POST",
        "/deals",
        _raw('{"pipeline_id": "sales", "stage_id": "new", "title": "t", "amount": NaN}'),
        None,
        400,
        "amount",
    ),
    ("PUT", "/constants/rate", _raw('{"type": "number", "value": Infinity}'), None, 400, "value"),
    ("PUT", "/variables/pct", _raw('{"type": "number", "value": -Infinity}'), None, 400, "value"),
    ("PUT", "/constants/rate", {"type": "number", "value": "NaN"}, None, 422, "value"),
    # strings longer than any field holds, and keys longer than any name
    ("POST", "/deals", {**DEAL, "fields": {"notes": "x" * 100_001}}, None, 422, "fields.notes"),
    ("PUT", "/constants/motto", {"type": "text", "value": "x" * 100_001}, None, 422, "value"),
    ("POST", "/deals", {**DEAL, "fields": {"k" * 300: 1}}, None, 422, "fields." + "k" * 40 + "…"),
    ("POST", "/deals", {**DEAL, "title": "x" * 501}, None, 422, "title"),
    # wrong types
    ("POST", "/deals", {**DEAL, "amount": [1]}, None, 422, "amount"),
    ("POST", "/deals", {**DEAL, "title": 5}, None, 422, "title"),
    ("PATCH", "/deals/deal-1001", {"version": "one"}, None, 422, "version"),
    ("PUT", "/constants/rate", ["number", 1], None, 422, "body"),
    ("POST", "/automation/bulk", {"operation": "enable", "ids": ["lost-email"], "select": {}}, None, 422, "ids"),
    ("POST", "/automation/lost-email/test", {}, None, 422, "deal_id"),
    # unknown query parameters: refused, naming each, never ignored
    ("GET", "/automation", None, {"owner_id": "u-admin"}, 400, "owner_id"),
    ("GET", "/deals", None, {"pipeline": "sales", "limit": "5"}, 400, "pipeline"),
    ("GET", "/pipelines", None, {"x": "1"}, 400, "x"),
    ("POST", "/deals", DEAL, {"dry_run": "true"}, 400, "dry_run"),
    ("PUT", "/constants/rate", {"type": "number", "value": "1"}, {"force": "1"}, 400, "force"),
    ("GET", "/deals", None, {"limit": "1e999"}, 422, "limit"),
    # path parameters that could never name anything
    ("PUT", "/constants/Tax Rate", {"type": "number", "value": "1"}, None, 422, "name"),
    ("GET", "/automation/" + "a" * 65, None, None, 422, "automation_id"),
    ("PATCH", "/deals/-x", {"version": 1}, None, 422, "deal_id"),
    ("DELETE", "/fields/Budget", None, None, 422, "code"),
]


def _scan(stack: MotoStack) -> dict[str, list[dict[str, Any]]]:
    client = boto3.client("dynamodb")
    return {
        name: sorted(client.scan(TableName=table)["Items"], key=repr) for name, table in stack.resources.tables.items()
    }


@pytest.fixture(scope="module")
def served() -> Iterator[MotoStack]:
    with MotoStack() as stack:
        set_up(stack)
        stack.drain()
        yield stack


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "status", "field"),
    CORPUS,
    ids=[f"{c[0]} {c[1][:30]} {c[5][:30]}" for c in CORPUS],
)
def test_a_malformed_request_is_a_4xx_naming_the_field_and_writes_nothing(
    served: MotoStack, method: str, path: str, body: Any, query: dict[str, str] | None, status: int, field: str
) -> None:
    before = _scan(served)
    answered, reply = served.api(method, path, body, claims=ADMIN, query=query)
    named = [p["field"] for p in reply["problems"]]
    # Too deep a body is named down to where the limit was passed: at or under the field given.
    assert answered == status and any(n == field or n.startswith(f"{field}.") for n in named), reply
    assert reply["error"] in ("validation", "malformed_json", "unknown_parameter")
    assert _scan(served) == before


def test_the_local_server_decodes_percent_encoded_paths_as_api_gateway_does(served: MotoStack) -> None:
    import requests

    from dealflow.local.tokens import caller_token

    token = caller_token("acme", "u-admin", "admin")
    with LocalApi(served, port=0, run_automation=False) as api:
        put = requests.put(
            f"{api.url}/constants/tax%5Frate",
            json={"type": "number", "value": "23"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        got = requests.get(f"{api.url}/constants/tax_rate", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert put.status_code in (200, 201) and put.json()["name"] == "tax_rate"
    assert got.status_code == 200 and got.json()["value"] == "23"


def test_a_query_parameter_the_route_declares_is_still_taken(served: MotoStack) -> None:
    status, reply = served.api("GET", "/automation", claims=ADMIN, query={"kind": "rule"})
    assert status == 200 and reply["items"] and {a["kind"] for a in reply["items"]} == {"rule"}


# ---- the webhook receiver: the same bounds, behind a good signature ---------------------------------

EVENT = '{"id": "evt-bad", "kind": "invoice_paid", "deal_id": "deal-1001"'
WEBHOOK_CORPUS: list[tuple[bytes, int, str]] = [
    ((EVENT + ', "data": ' + "[" * 40 + "]" * 40 + "}").encode(), 400, "data"),
    ((EVENT[:-1] + "[" * 20_000 + "]" * 20_000 + "}").encode(), 400, "body"),
    ((EVENT + ', "data": {"total": 1e400}}').encode(), 422, "data.total"),
    ((EVENT + ', "data": {"total": 1e-400}}').encode(), 422, "data.total"),
    ((EVENT + ', "data": {"total": ' + "7" * 60 + "}}").encode(), 422, "data.total"),
    ((EVENT + ', "data": {"total": NaN}}').encode(), 400, "data.total"),
    ((EVENT + ', "data": {"' + "k" * 300 + '": 1}}').encode(), 422, "data." + "k" * 40 + "…"),
    ((EVENT + ', "data": {"note": "' + "x" * 70_000 + '"}}').encode(), 413, ""),
    ((EVENT + ', "data": "text"}').encode(), 422, "data"),
    (b'{"id": 7, "kind": "invoice_paid", "deal_id": "deal-1001"}', 422, "id"),
]


@pytest.mark.parametrize(("raw", "status", "field"), WEBHOOK_CORPUS, ids=[f"{c[1]} {c[2]}" for c in WEBHOOK_CORPUS])
def test_a_malformed_webhook_is_a_4xx_naming_the_field_and_moves_nothing(
    served: MotoStack, raw: bytes, status: int, field: str
) -> None:
    served.set_webhook_secret("acme", "whsec_malformed")
    before = _scan(served)
    answered, reply = served.post_webhook("acme", raw)
    assert answered == status, reply
    if field:
        named = [p["field"] for p in reply["problems"]]
        assert any(n == field or n.startswith(f"{field}.") for n in named), reply
    served.drain()
    assert _scan(served) == before
