"""The local HTTP server: the management API handler over real HTTP on 127.0.0.1, bearer tokens
standing in for API Gateway's JWT authorizer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, set_up, set_up_process_tenant
from dealflow.local.server import LocalApi, banner
from dealflow.local.tokens import caller_token, claims_from_authorization, local_token
from dealflow.webhooks import signed_headers

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"
ADMIN = caller_token(TENANT, "u-admin", "admin")
ANNA = caller_token(TENANT, "u-anna", "sales_rep")
DEAL = {
    "pipeline_id": "sales",
    "stage_id": "new",
    "title": "Cloud migration",
    "amount": "24000.00",
    "currency": "EUR",
    "responsible_id": "u-anna",
    "fields": {"what_we_sell": "services"},
}


@pytest.fixture
def served() -> Iterator[tuple[MotoStack, LocalApi]]:
    with MotoStack() as stack:
        set_up(stack)
        set_up_process_tenant(stack)
        with LocalApi(stack, port=0) as api:
            yield stack, api


def _http(
    api: LocalApi, method: str, path: str, body: Any = None, token: str | None = None, authorization: str | None = None
) -> tuple[int, str, bytes]:
    """(status, content type, body) of one HTTP request to the server."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api.url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        authorization = f"Bearer {token}"
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def test_binds_to_the_loopback_address_only(served: tuple[MotoStack, LocalApi]) -> None:
    _, api = served
    host, port = api.address
    assert host == "127.0.0.1" and port > 0
    assert api.url == f"http://127.0.0.1:{port}"


def test_openapi_document_and_swagger_need_no_token(served: tuple[MotoStack, LocalApi]) -> None:
    _, api = served
    status, kind, body = _http(api, "GET", "/openapi.json")
    assert status == 200 and kind.startswith("application/json")
    assert json.loads(body) == json.loads(COMMITTED.read_text())

    status, kind, body = _http(api, "GET", "/swagger")
    assert status == 200 and kind.startswith("text/html")
    assert b"SwaggerUIBundle" in body and b'"bearerFormat": "JWT"' in body


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "Bearer a.%%%.c", "Basic dXNlcjpwdw==", f"Bearer {local_token({'sub': 'u-admin'})}"],
)
def test_no_usable_token_is_401(served: tuple[MotoStack, LocalApi], authorization: str | None) -> None:
    _, api = served
    status, _, body = _http(api, "GET", "/pipelines", authorization=authorization)
    assert status == 401 and json.loads(body)["error"] == "unauthorized"


def test_the_token_decides_tenant_and_role(served: tuple[MotoStack, LocalApi]) -> None:
    _, api = served
    status, _, body = _http(api, "GET", "/pipelines", token=ADMIN)
    assert status == 200
    assert {p["id"] for p in json.loads(body)["items"]} == {"sales", "renewals", "delivery", "leads"}

    status, _, body = _http(api, "GET", "/pipelines", token=caller_token("globex", "u-admin", "admin"))
    assert status == 200 and [p["id"] for p in json.loads(body)["items"]] == ["sales"]

    status, _, body = _http(api, "PUT", "/pipelines/sales", {"name": "x", "stages": []}, token=ANNA)
    assert status == 403 and json.loads(body)["error"] == "forbidden"


def test_query_string_reaches_the_handler(served: tuple[MotoStack, LocalApi]) -> None:
    _, api = served
    status, _, body = _http(api, "GET", "/automation?kind=tunnel", token=ADMIN)
    assert status == 200 and [a["id"] for a in json.loads(body)["items"]] == ["won-to-delivery"]


def test_bad_deal_is_a_422_naming_the_fields_and_nothing_is_written(served: tuple[MotoStack, LocalApi]) -> None:
    stack, api = served
    status, kind, body = _http(
        api, "POST", "/deals", {**DEAL, "id": "deal-9", "amount": "a lot", "title": ""}, token=ANNA
    )
    assert status == 422 and kind.startswith("application/json")
    problems = json.loads(body)
    assert problems["error"] == "validation"
    assert {p["field"] for p in problems["problems"]} == {"amount", "title"}
    assert stack.get_deal(TENANT, "deal-9") is None

    status, _, body = _http(api, "POST", "/deals", token=ANNA, authorization=None, body=None)
    assert status == 422


def test_a_body_that_is_not_utf8_is_a_400_not_a_500(served: tuple[MotoStack, LocalApi]) -> None:
    stack, api = served
    before = stack.automation.definitions(TENANT)
    status, _, body = _http(api, "POST", "/deals", b"\x14\xbc\xda%\x0b", token=ANNA)
    assert status == 400 and json.loads(body)["error"] == "malformed_json"
    status, _, body = _http(api, "PUT", "/pipelines/sales", b"\xff\xfe{}", token=ADMIN)
    assert status == 400 and json.loads(body)["error"] == "malformed_json"
    assert stack.automation.definitions(TENANT) == before


def test_changes_over_http_run_the_automation(served: tuple[MotoStack, LocalApi]) -> None:
    stack, api = served
    status, _, body = _http(api, "POST", "/deals", {**DEAL, "id": "deal-7"}, token=ANNA)
    assert status == 201 and json.loads(body)["version"] == 1
    status, _, body = _http(api, "POST", "/deals/deal-7/move", {"stage_id": "lost"}, token=ANNA)
    assert status == 200 and json.loads(body)["stage_id"] == "lost"
    # The lost-deal rule ran without anyone draining the stream by hand.
    # (To its two people, one message each.)
    assert [e.subject for e in stack.emails()] == ["Lost: Cloud migration (24000.00 EUR)"] * 2


def test_signed_webhooks_go_through_the_receiver_and_move_the_deal(served: tuple[MotoStack, LocalApi]) -> None:
    stack, api = served
    stack.create_deal(demo_deal("deal-8", "Data migration", "7300.00", "services"))
    stack.drain()
    stack.set_webhook_secret(TENANT, "s3cret")
    raw = json.dumps({"id": "evt-http-1", "kind": "invoice_paid", "deal_id": "deal-8"}).encode()

    def post(headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(f"{api.url}/webhooks/{TENANT}", data=raw, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    # The HMAC signature is the authentication: a bearer token does not stand in for it.
    status, body = post({"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}"})
    assert status == 401 and stack.get_deal(TENANT, "deal-8").stage_id == "new"
    status, body = post(signed_headers("s3cret", raw))
    assert status == 202 and body["accepted"] is True
    # The trigger "invoice paid → won" ran before the answer, as the management API's changes do.
    assert stack.get_deal(TENANT, "deal-8").stage_id == "won"
    status, body = post(signed_headers("s3cret", raw))
    assert status == 409 and body["error"] == "replayed"


def test_tokens_are_plain_unsigned_jwts() -> None:
    claims = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
    assert claims_from_authorization(f"Bearer {local_token(claims)}") == claims
    assert claims_from_authorization(f"bearer {local_token({'sub': 'u', 'n': 3})}") == {"sub": "u", "n": "3"}
    assert claims_from_authorization(None) is None


def test_banner_gives_tokens_swagger_and_curl() -> None:
    text = banner("http://127.0.0.1:8000")
    assert ADMIN in text and caller_token("globex", "u-admin", "admin") in text
    assert "http://127.0.0.1:8000/swagger" in text and text.count("curl ") == 2
    assert "NOT verified" in text
    assert f"POST http://127.0.0.1:8000/webhooks/{TENANT}" in text
