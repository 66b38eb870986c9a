"""Automation as code: export the demo tenant's automation as one document, import it back (dry run
and real), into a second tenant, as JSON and as YAML, through the management API handler."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from dealflow import runtime
from dealflow.authoring.moves import write_changes
from dealflow.authoring.transfer import import_changes, validate_document
from dealflow.local import MotoStack
from dealflow.local.demo import PROCESS_TENANT, TENANT, demo_deal, set_up_process_tenant
from dealflow.model.plan import PlanName
from dealflow.store.automation import StaleDefinition

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
MANAGER = {"sub": "u-head", "custom:tenant_id": TENANT, "custom:role": "sales_manager"}
GLOBEX_ADMIN = {"sub": "u-admin", "custom:tenant_id": PROCESS_TENANT, "custom:role": "admin"}


def _fields(body: dict[str, Any]) -> dict[str, str]:
    assert body["error"] == "validation", body
    return {p["field"]: p["problem"] for p in body["problems"]}


def _export(stack: MotoStack, claims: dict[str, str] = ADMIN) -> dict[str, Any]:
    status, document = stack.api("GET", "/export", claims=claims)
    assert status == 200, document
    return document


def _changed(body: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["kind"], c["id"]): c["change"] for c in body["changes"] if c["change"] != "unchanged"}


def test_export_holds_everything_without_bookkeeping(stack: MotoStack) -> None:
    document = _export(stack)
    assert document["format"] == "dealflow/v1"
    assert [p["id"] for p in document["pipelines"]] == ["delivery", "leads", "renewals", "sales"]
    assert [f["code"] for f in document["fields"]] == ["proposal_sent_on", "what_we_sell"]
    assert len(document["automation"]) == 8
    assert [w["id"] for w in document["field_step_workflows"]] == ["proposal-sent"]
    assert document["constants"]["head_of_sales"] == {"type": "text", "value": "u-head"}
    assert not any("version" in a or "tenant_id" in a for a in document["automation"])
    # Only administrators read it: it is the tenant's whole automation.
    assert stack.api("GET", "/export", claims=MANAGER)[0] == 403
    assert stack.api("POST", "/import", document, claims=MANAGER)[0] == 403


def test_export_import_export_round_trip_changes_nothing(stack: MotoStack) -> None:
    document = _export(stack)
    status, body = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "true"})
    assert status == 200 and body["dry_run"] is True
    assert _changed(body) == {} and len(body["changes"]) == 4 + 2 + 8 + 1 + 2

    version = stack.automation.get_tenant(TENANT).automation_version
    status, body = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "false"})
    assert status == 200 and _changed(body) == {}
    assert stack.automation.get_tenant(TENANT).automation_version == version  # nothing was written
    assert _export(stack) == document


def test_import_replaces_creates_updates_and_deletes(stack: MotoStack) -> None:
    document = _export(stack)
    edited = copy.deepcopy(document)
    edited["automation"] = [a for a in edited["automation"] if a["id"] != "lost-email"]
    follow_up = next(a for a in edited["automation"] if a["id"] == "proposal-follow-up")
    follow_up["name"] = "Follow up after two days"
    edited["automation"].append(
        {
            "kind": "trigger",
            "id": "form-filled",
            "name": "Web form",
            "pipeline_id": "leads",
            "stage_id": "qualified",
            "event": "web_form_submitted",
        }
    )
    edited["constants"]["tax_rate"] = {"type": "number", "value": 23}

    status, body = stack.api("POST", "/import", edited, claims=ADMIN, query={"dry_run": "true"})
    expected = {
        ("rule", "lost-email"): "delete",
        ("rule", "proposal-follow-up"): "update",
        ("trigger", "form-filled"): "create",
        ("constant", "tax_rate"): "create",
    }
    assert status == 200 and _changed(body) == expected
    assert _export(stack) == document  # a dry run writes nothing

    status, body = stack.api("POST", "/import", edited, claims=ADMIN, query={"dry_run": "false"})
    assert status == 200 and body["dry_run"] is False and _changed(body) == expected
    stored = stack.automation.load(TENANT)
    assert "lost-email" not in stored.by_id and stored.by_id["proposal-follow-up"].version == 2
    assert stored.by_id["form-filled"].version == 1 and stored.tenant.constants["tax_rate"].value == 23
    exported = _export(stack)
    assert [a["id"] for a in exported["automation"]] == sorted(a["id"] for a in edited["automation"])
    assert exported["automation"][0] == {**edited["automation"][-1], "enabled": True, "allow_backwards": False}

    # The deleted rule no longer runs.
    stack.create_deal(demo_deal("deal-60", "Imported away", "100.00", "other"))
    stack.move_deal(TENANT, "deal-60", "lost")
    stack.drain()
    assert not any("Imported away" in e.subject for e in stack.emails())


def test_invalid_document_is_refused_naming_each_problem_and_nothing_is_written(stack: MotoStack) -> None:
    document = _export(stack)
    broken = copy.deepcopy(document)
    broken["pipelines"] = [p for p in broken["pipelines"] if p["id"] != "delivery"]  # the tunnel leads there
    broken["fields"] = []  # rules test what_we_sell
    lost = next(a for a in broken["automation"] if a["id"] == "lost-email")
    lost["actions"][0]["to"]["users"] = ["u-nobody"]
    broken["automation"].append(
        {"kind": "rule", "id": "no-actions", "name": "Empty", "pipeline_id": "sales", "stage_id": "new", "actions": []}
    )
    broken["constants"]["chief_accountant"] = {"type": "user", "value": "u-ghost"}

    status, body = stack.api("POST", "/import", broken, claims=ADMIN, query={"dry_run": "false"})
    assert status == 422
    problems = _fields(body)
    assert "delivery" in problems["automation.won-to-delivery.target_pipeline_id"]
    assert "what_we_sell" in problems["automation.won-services-workgroup.condition.field"]
    assert "u-nobody" in problems["automation.lost-email.actions.0.to.users.0"]
    assert "automation.no-actions.actions" in problems
    assert "u-ghost" in problems["constants.chief_accountant.value"]
    assert _export(stack) == document

    status, body = stack.api("POST", "/import", {**document, "format": "dealflow/v0"}, claims=ADMIN)
    assert status == 422 and "format" in _fields(body)
    status, body = stack.api(
        "POST", "/import", {**document, "pipelines": [*document["pipelines"], document["pipelines"][0]]}, claims=ADMIN
    )
    assert status == 422 and "listed 2 times" in _fields(body)["pipelines.delivery.id"]


def test_import_into_another_tenant_then_its_export_is_the_same(stack: MotoStack) -> None:
    set_up_process_tenant(stack)
    document = _export(stack)
    # Globex has its own users: a document naming someone it lacks is refused until adjusted.
    globex = stack.automation.get_tenant(PROCESS_TENANT)
    stack.put_tenant(globex.model_copy(update={"users": [u for u in globex.users if u.id != "u-anna"]}))
    status, body = stack.api("POST", "/import", document, claims=GLOBEX_ADMIN, query={"dry_run": "false"})
    assert status == 422 and "u-anna" in _fields(body)["automation.lost-email.actions.0.to.users.1"]
    lost = next(a for a in document["automation"] if a["id"] == "lost-email")
    lost["actions"][0]["to"]["users"] = ["u-head"]

    status, body = stack.api("POST", "/import", document, claims=GLOBEX_ADMIN, query={"dry_run": "false"})
    assert status == 200, body
    changed = _changed(body)
    assert changed[("business_process", "deal-outcome")] == "delete" and changed[("pipeline", "leads")] == "create"
    assert changed[("field", "commission")] == "delete" and changed[("rule", "lost-email")] == "create"
    assert _export(stack, GLOBEX_ADMIN) == document
    acme_lost = next(a for a in _export(stack)["automation"] if a["id"] == "lost-email")
    assert acme_lost["actions"][0]["to"]["users"] == ["u-head", "u-anna"]  # the source tenant is untouched


def test_yaml_both_ways(stack: MotoStack) -> None:
    response = stack.api_response("GET", "/export", claims=ADMIN, query={"format": "yaml"})
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/yaml"
    document = yaml.safe_load(response["body"])
    assert document == _export(stack)

    document["automation"] = [a for a in document["automation"] if a["kind"] != "trigger"]
    text = yaml.safe_dump(document, sort_keys=False)
    status, body = stack.api(
        "POST", "/import", text, claims=ADMIN, query={"dry_run": "false"}, headers={"Content-Type": "text/yaml"}
    )
    assert status == 200 and set(_changed(body).values()) == {"delete"} and len(_changed(body)) == 3
    assert not any(a.kind == "trigger" for a in stack.automation.load(TENANT).by_id.values())

    status, body = stack.api(
        "POST", "/import", "pipelines: [unclosed", claims=ADMIN, headers={"Content-Type": "application/yaml"}
    )
    assert status == 400 and body["error"] == "malformed_yaml"
    status, body = stack.api(
        "POST", "/import", "- just\n- a list\n", claims=ADMIN, headers={"Content-Type": "application/yaml"}
    )
    assert status == 422 and "body" in _fields(body)


def _many_rules(count: int) -> list[dict[str, Any]]:
    return [
        {
            "kind": "rule",
            "id": f"bulk-{n:03d}",
            "name": f"Bulk rule {n}",
            "pipeline_id": "sales",
            "stage_id": "new",
            "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": f"rule {n}"}],
        }
        for n in range(count)
    ]


def test_an_import_switching_on_more_than_the_plan_allows_writes_nothing(stack: MotoStack) -> None:
    document = _export(stack)
    document["automation"] += _many_rules(150)
    before = stack.automation.definitions(TENANT)
    status, body = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "false"})
    assert status == 403 and body["error"] == "plan_limit" and body["limit"] == 100
    assert stack.automation.definitions(TENANT) == before


def _failing_transactions(after: int) -> list[int]:
    """Every TransactWriteItems call past the first ``after`` fails as DynamoDB would fail it (a
    botocore hook on the client the handlers use); the list counts the calls made."""
    calls: list[int] = []

    def fail(**_: Any) -> None:
        calls.append(1)
        if len(calls) > after:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "TransactWriteItems")

    runtime.tables().automation.meta.client.meta.events.register("before-call.dynamodb.TransactWriteItems", fail)
    return calls


def _on_enterprise_plan(stack: MotoStack) -> None:
    tenant = stack.automation.get_tenant(TENANT)
    stack.automation.put_tenant(tenant.model_copy(update={"plan": PlanName.ENTERPRISE}))


def test_an_import_over_one_transaction_is_refused_whole_naming_the_limit(stack: MotoStack) -> None:
    _on_enterprise_plan(stack)
    before = stack.automation.definitions(TENANT)
    version = stack.automation.get_tenant(TENANT).automation_version
    calls = _failing_transactions(after=1)  # a second transaction, were there one, would fail
    document = _export(stack)
    document["automation"] += _many_rules(150)

    status, body = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "false"})

    assert status == 413 and body["error"] == "payload_too_large", body
    assert body["limit"] == "transaction_items" and body["max"] == 99 and "150 definitions" in body["reason"]
    assert calls == [] and stack.automation.definitions(TENANT) == before
    assert stack.automation.get_tenant(TENANT).automation_version == version


def test_an_import_whose_transaction_fails_leaves_nothing_written(stack: MotoStack) -> None:
    _on_enterprise_plan(stack)
    before = stack.automation.definitions(TENANT)
    calls = _failing_transactions(after=0)
    document = _export(stack)
    document["automation"] += _many_rules(90)

    status, _ = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "false"})

    assert status >= 500 and calls == [1]
    assert stack.automation.definitions(TENANT) == before


def test_a_large_import_within_the_limits_is_written_whole(stack: MotoStack) -> None:
    _on_enterprise_plan(stack)
    document = _export(stack)
    mail = {"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "Hello", "body": "x" * 3000}
    document["automation"] += [{**rule, "actions": [mail]} for rule in _many_rules(99 - 8)]  # 99 in all

    status, body = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "false"})

    assert status == 200 and len(_changed(body)) == 91, body
    assert len(stack.automation.load(TENANT).by_id) == 99


def test_an_import_checked_against_an_outdated_version_writes_nothing(stack: MotoStack) -> None:
    document = _export(stack)
    first = document["automation"].pop(0)["id"]
    known = stack.automation.load(TENANT)
    changes, _, _ = import_changes(validate_document(document, known), known)
    assert stack.api("POST", "/automation/lost-email/disable", claims=ADMIN)[0] == 200  # a write in between
    version = stack.automation.get_tenant(TENANT).automation_version
    with pytest.raises(StaleDefinition):
        write_changes(stack.automation, TENANT, known, changes)
    assert stack.automation.get_tenant(TENANT).automation_version == version
    assert first in stack.automation.load(TENANT).by_id


def test_decimals_come_out_and_go_back_in_exactly(stack: MotoStack) -> None:
    precise = {"type": "number", "value": "0.12345678901234567890"}
    assert stack.api("PUT", "/constants/precise", precise, claims=ADMIN)[0] == 201
    as_json = stack.api_response("GET", "/export", claims=ADMIN)["body"]
    as_yaml = stack.api_response("GET", "/export", claims=ADMIN, query={"format": "yaml"})["body"]
    assert '"precise": {"type": "number", "value": 0.12345678901234567890}' in as_json
    assert "value: 0.12345678901234567890" in as_yaml

    for text, content_type in ((as_json, "application/json"), (as_yaml, "application/yaml")):
        assert stack.api("PUT", "/constants/precise", {"type": "number", "value": "1"}, claims=ADMIN)[0] == 200
        status, body = stack.api(
            "POST", "/import", text, claims=ADMIN, query={"dry_run": "false"}, headers={"Content-Type": content_type}
        )
        assert status == 200 and _changed(body) == {("constant", "precise"): "update"}, body
        status, body = stack.api("GET", "/constants/precise", claims=ADMIN)
        assert body["value"] == "0.12345678901234567890", content_type
