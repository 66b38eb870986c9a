"""An export larger than Lambda's 6 MB response: 1,000 rules with 7 KB e-mails (7.15 MiB) come in
pages, each response within the limit, which put together are the whole document."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from dealflow import runtime
from dealflow.authoring.transfer import export_document
from dealflow.limits import MAX_SYNC_RESPONSE_BYTES
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT
from dealflow.model import Rule
from dealflow.ports import MAX_WRITES

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
BODY = "Dear {{ deal.contact.name }}, " + "we will call you about {{ deal.title }} this week. " * 140  # ~7 KB


@pytest.fixture
def large(stack: MotoStack) -> MotoStack:
    rules = [
        Rule.model_validate(
            {
                "id": f"mail-{n:04d}",
                "name": f"Follow-up e-mail {n}",
                "pipeline_id": "sales",
                "stage_id": "lost",
                "enabled": False,  # beyond the plan's active rules, and none of them need run here
                "actions": [{"kind": "send_email", "to": {"responsible": True}, "subject": "Hi", "body": BODY}],
            }
        )
        for n in range(1_000)
    ]
    for at in range(0, len(rules), MAX_WRITES):
        stack.automation.write_definitions(TENANT, [(r, None) for r in rules[at : at + MAX_WRITES]])
    return stack


def _pages(stack: MotoStack, query: dict[str, str]) -> list[dict[str, Any]]:
    responses, token = [], None
    while True:
        response = stack.api_response(
            "GET", "/export", claims=ADMIN, query={**query, **({"next_token": token} if token else {})}
        )
        assert response["statusCode"] == 200, response["body"][:500]
        # What Lambda hands API Gateway, as the Python runtime encodes it.
        assert len(json.dumps(response).encode()) <= MAX_SYNC_RESPONSE_BYTES
        responses.append(response)
        page = json.loads(response["body"]) if query.get("format") != "yaml" else yaml.safe_load(response["body"])
        token = page.pop("next_token", None)
        responses[-1] = page
        if token is None:
            return responses


def _joined(pages: list[dict[str, Any]]) -> dict[str, Any]:
    whole = {**pages[0], "constants": {}}
    for page in pages:
        for section, value in page.items():
            if isinstance(value, list):
                whole[section] = [*whole[section], *value] if page is not pages[0] else value
        whole["constants"] |= page["constants"]
    return whole


@pytest.mark.parametrize("format", ["json", "yaml"])
def test_an_export_over_six_megabytes_comes_in_pages_that_join_into_the_document(large: MotoStack, format: str) -> None:
    expected = export_document(runtime.automation_store().load(TENANT))
    assert len(json.dumps(expected).encode()) > MAX_SYNC_RESPONSE_BYTES  # the size the issue measured
    pages = _pages(large, {"format": format})
    assert len(pages) >= 2
    assert all(p["pipelines"] == [] and p["constants"] == {} for p in pages[1:])  # later pages: automation only
    assert _joined(pages) == expected


def test_a_change_between_pages_is_a_conflict_and_a_made_up_token_is_refused(large: MotoStack) -> None:
    status, first = large.api("GET", "/export", claims=ADMIN)
    assert status == 200 and first["next_token"]
    assert large.api("POST", "/automation/mail-0000/enable", claims=ADMIN)[0] == 200
    status, body = large.api("GET", "/export", claims=ADMIN, query={"next_token": first["next_token"]})
    assert status == 409 and body["field"] == "next_token", body
    status, body = large.api("GET", "/export", claims=ADMIN, query={"next_token": first["next_token"][:-2] + "xx"})
    assert status == 400 and body["problems"][0]["field"] == "next_token"
    status, body = large.api(
        "GET", "/export", claims=ADMIN, query={"next_token": first["next_token"], "format": "yaml"}
    )
    assert status == 400  # a token is for the format it was made for
