"""Automation as code: a tenant's pipelines, fields, automation, field–step workflows and constants
as one document; the document checked as a whole, compared with what is stored, and written so the
tenant has exactly its definitions."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from dealflow.authoring.document_text import from_json, from_yaml, to_json, to_yaml
from dealflow.authoring.moves import write_changes
from dealflow.authoring.transfer import export_document, import_changes, validate_document
from dealflow.http_errors import Invalid
from dealflow.model.tenant import PlanName
from tests.fakes import TENANT_ID, FakeAutomationStore, a_tenant, a_workflow

CONSTANTS = {
    "crm_url": {"type": "text", "value": "https://crm.acme.example"},
    "tax_rate": {"type": "number", "value": "0.23"},
    "fee": {"type": "number", "value": "19.99"},
    "seats": {"type": "number", "value": "40"},
    "starts_on": {"type": "date", "value": "2026-01-01"},
    "chief_accountant": {"type": "user", "value": "u-head"},
}


def _store(**tenant: Any) -> FakeAutomationStore:
    return FakeAutomationStore(a_tenant(constants=CONSTANTS, **tenant), workflows=[a_workflow()])


def _export(store: FakeAutomationStore) -> dict[str, Any]:
    """The document as it travels: through JSON."""
    return json.loads(to_json(export_document(store.load(store.tenant.id))))


def _import(
    store: FakeAutomationStore, document: dict[str, Any], *, dry_run: bool = False
) -> dict[tuple[str, str], str]:
    """Import ``document`` as POST /import does; what changes, by (kind, id), unchanged ones left out."""
    known = store.load(store.tenant.id)
    changes, listing, constants_change = import_changes(validate_document(document, known), known)
    if not dry_run:
        constants = validate_document(document, known).constants if constants_change else None
        write_changes(store, store.tenant.id, known, changes, constants=constants)
    return {(c.kind, c.id): c.change for c in listing if c.change != "unchanged"}


def _problems(document: dict[str, Any], store: FakeAutomationStore | None = None) -> dict[str, str]:
    store = store or _store()
    with pytest.raises(Invalid) as exc:
        validate_document(document, store.load(store.tenant.id))
    return {p["field"]: p["problem"] for p in exc.value.problems}


def _automation(document: dict[str, Any], automation_id: str) -> dict[str, Any]:
    return next(a for a in document["automation"] if a["id"] == automation_id)


# --- export ------------------------------------------------------------------------------------------------


def test_export_lists_everything_in_a_fixed_order_without_bookkeeping() -> None:
    document = _export(_store())

    assert document["format"] == "dealflow/v1"
    assert [p["id"] for p in document["pipelines"]] == ["delivery", "leads", "renewals", "sales"]
    assert [f["code"] for f in document["fields"]] == ["budget", "proposal_sent_on", "region", "what_we_sell"]
    assert [a["id"] for a in document["automation"]] == [
        "invoice-paid",
        "lead-satisfied",
        "lost-email",
        "won-notify-head",
        "won-to-delivery",
    ]
    assert [w["id"] for w in document["field_step_workflows"]] == ["proposal-sent"]
    assert list(document["constants"]) == sorted(CONSTANTS)
    everything = [
        *document["pipelines"],
        *document["fields"],
        *document["automation"],
        *document["field_step_workflows"],
    ]
    assert not any("version" in item or "tenant_id" in item for item in everything)


def test_numbers_are_numbers_and_decimals_stay_exact() -> None:
    store = _store()
    document = _export(store)

    assert document["constants"]["tax_rate"] == {"type": "number", "value": 0.23}
    assert document["constants"]["fee"]["value"] == 19.99
    assert document["constants"]["seats"]["value"] == 40 and isinstance(document["constants"]["seats"]["value"], int)
    assert _automation(document, "lost-email")["condition"]["value"] == 1000

    imported = validate_document(document, store.load(TENANT_ID)).constants
    assert (imported["tax_rate"].value, imported["fee"].value, imported["seats"].value) == (
        Decimal("0.23"),
        Decimal("19.99"),
        Decimal("40"),
    )


def test_export_import_export_changes_nothing() -> None:
    store = _store()
    document = _export(store)

    known = store.load(TENANT_ID)
    changes, listing, constants_change = import_changes(validate_document(document, known), known)

    assert len(changes) == 0 and constants_change is False
    assert {c.change for c in listing} == {"unchanged"}
    assert len(listing) == 4 + 4 + 5 + 1 + len(CONSTANTS)  # every definition and constant is listed
    write_changes(store, TENANT_ID, known, changes)
    assert store.transactions == [] and _export(store) == document


def test_a_document_imported_into_another_tenant_exports_the_same() -> None:
    document = _export(_store())
    other = FakeAutomationStore(a_tenant("globex"), pipelines=[], fields=[], automation=[])

    changed = _import(other, document)

    assert set(changed.values()) == {"create"} and changed[("field_step_workflow", "proposal-sent")] == "create"
    assert _export(other) == document
    assert other.load("globex").tenant.constants["tax_rate"].value == Decimal("0.23")


# --- dry run and import ------------------------------------------------------------------------------------


def _edited(document: dict[str, Any]) -> dict[str, Any]:
    edited = copy.deepcopy(document)
    edited["automation"] = [a for a in edited["automation"] if a["id"] != "lost-email"]
    _automation(edited, "won-notify-head")["name"] = "Tell the head"
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
    edited["fields"] = [f for f in edited["fields"] if f["code"] != "budget"]
    edited["pipelines"][0]["name"] = "Delivery (EU)"
    edited["field_step_workflows"][0]["enabled"] = False
    edited["constants"]["tax_rate"]["value"] = 0.08
    del edited["constants"]["fee"]
    edited["constants"]["vat_id"] = {"type": "text", "value": "PL123"}
    return edited


EXPECTED = {
    ("rule", "lost-email"): "delete",
    ("rule", "won-notify-head"): "update",
    ("trigger", "form-filled"): "create",
    ("field", "budget"): "delete",
    ("pipeline", "delivery"): "update",
    ("field_step_workflow", "proposal-sent"): "update",
    ("constant", "tax_rate"): "update",
    ("constant", "fee"): "delete",
    ("constant", "vat_id"): "create",
}


def test_a_dry_run_lists_what_would_be_created_updated_and_deleted_and_writes_nothing() -> None:
    store = _store()
    document = _export(store)

    assert _import(store, _edited(document), dry_run=True) == EXPECTED
    assert store.transactions == [] and _export(store) == document


def test_an_import_makes_the_tenant_exactly_the_document() -> None:
    store = _store()
    edited = _edited(_export(store))

    assert _import(store, edited) == EXPECTED

    after = store.load(TENANT_ID)
    assert "lost-email" not in after.by_id and "budget" not in after.fields
    assert (after.by_id["won-notify-head"].name, after.by_id["won-notify-head"].version) == ("Tell the head", 2)
    assert after.by_id["form-filled"].version == 1 and after.pipelines["delivery"].version == 2
    assert after.tenant.constants["tax_rate"].value == Decimal("0.08") and "fee" not in after.tenant.constants
    exported = _export(store)
    assert _automation(exported, "form-filled") == {
        **_automation(edited, "form-filled"),
        "enabled": True,
        "allow_backwards": False,
    }
    assert {k: v for k, v in exported.items() if k != "automation"} == {
        k: v for k, v in edited.items() if k != "automation"
    }


def test_definitions_are_written_before_automation_naming_them_and_deleted_after() -> None:
    store = _store()
    document = copy.deepcopy(_export(store))
    document["pipelines"].append({"id": "support", "name": "Support", "stages": [{"id": "open", "name": "Open"}]})
    document["automation"].append(
        {
            "kind": "rule",
            "id": "support-open",
            "name": "Support ticket opened",
            "pipeline_id": "support",
            "stage_id": "open",
            "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}],
        }
    )
    document["automation"] = [a for a in document["automation"] if a["id"] != "won-to-delivery"]
    document["pipelines"] = [p for p in document["pipelines"] if p["id"] != "delivery"]
    known = store.load(TENANT_ID)

    changes, _, _ = import_changes(validate_document(document, known), known)

    assert [getattr(m, "id", None) for m in changes.created] == ["support", "support-open"]
    assert [m.id for m, _ in changes.deleted] == ["won-to-delivery", "delivery"]
    assert all(version == 1 for _, version in changes.deleted)  # each at the version stored


# --- problems ----------------------------------------------------------------------------------------------


def test_every_problem_is_named_by_section_id_and_field() -> None:
    document = _export(_store())
    broken = copy.deepcopy(document)
    broken["pipelines"] = [p for p in broken["pipelines"] if p["id"] != "delivery"]  # the tunnel leads there
    broken["fields"] = [f for f in broken["fields"] if f["code"] != "what_we_sell"]  # the tunnel tests it
    _automation(broken, "lost-email")["actions"][0]["to"]["users"] = ["u-nobody"]
    broken["automation"].append({"kind": "rule", "id": "empty", "name": "E", "pipeline_id": "sales", "stage_id": "new"})
    broken["automation"].append({"kind": "rule", "name": "No id", "pipeline_id": "sales", "stage_id": "new"})
    broken["constants"]["chief_accountant"] = {"type": "user", "value": "u-ghost"}
    broken["field_step_workflows"][0]["step_id"] = "sign_contract"

    problems = _problems(broken)

    assert problems["automation.won-to-delivery.target_pipeline_id"] == "no pipeline 'delivery' in this tenant"
    assert "what_we_sell" in problems["automation.won-to-delivery.condition.field"]
    assert problems["automation.lost-email.actions.0.to.users.0"] == "no user 'u-nobody' in this tenant"
    assert "automation.empty.actions" in problems
    assert "automation.6.id" in problems  # without an id, an item is named by its index
    assert problems["constants.chief_accountant.value"] == "no user 'u-ghost' in this tenant"
    assert problems["field_step_workflows.proposal-sent.step_id"] == "no step 'sign_contract' in pipeline 'sales'"


def test_an_imported_rule_setting_a_field_to_a_value_its_kind_cannot_hold_is_refused() -> None:
    document = copy.deepcopy(_export(_store()))
    rule = {"kind": "rule", "id": "lots", "name": "L", "pipeline_id": "sales", "stage_id": "new"}
    rule["actions"] = [{"kind": "update_fields", "values": {"budget": {"value": "lots"}}}]
    document["automation"].append(rule)
    assert _problems(document) == {"automation.lots.actions.0.values.budget.value": 'expected a number, got "lots"'}

    # The document's own field definitions decide: budget made a text field there takes "lots".
    next(f for f in document["fields"] if f["code"] == "budget")["kind"] = "text"
    assert ("rule", "lots") in _import(_store(), document, dry_run=True)


def test_the_document_itself_must_be_a_dealflow_v1_document() -> None:
    document = _export(_store())
    assert "format" in _problems({**document, "format": "dealflow/v0"})
    assert "owner" in _problems({**document, "owner": "me"})
    problems = _problems({**document, "pipelines": [*document["pipelines"], document["pipelines"][0]]})
    assert problems["pipelines.delivery.id"] == "'delivery' is listed 2 times"
    assert "fields.id.code" in _problems({**document, "fields": [{"code": "id", "name": "Id", "kind": "text"}]})


def test_a_stored_pipeline_keeps_its_entity() -> None:
    document = copy.deepcopy(_export(_store()))
    next(p for p in document["pipelines"] if p["id"] == "leads")["entity"] = "deal"
    assert _problems(document)["pipelines.leads.entity"] == "pipeline 'leads' holds leads; it cannot change"


def test_field_step_workflows_each_use_a_field_and_a_step_once_within_the_plan() -> None:
    document = copy.deepcopy(_export(_store()))
    twin = {**document["field_step_workflows"][0], "id": "twin", "step_id": "qualify"}
    problems = _problems({**document, "field_step_workflows": [*document["field_step_workflows"], twin]})
    assert problems["field_step_workflows.twin.field_code"] == (
        "field 'proposal_sent_on' is used by field–step workflow 'proposal-sent' as well"
    )

    second = {**twin, "field_code": "region"}  # its own field and step: fine, but the free plan allows one
    with_second = {**document, "field_step_workflows": [*document["field_step_workflows"], second]}
    validate_document(with_second, _store().load(TENANT_ID))
    assert _problems(with_second, _store(plan=PlanName.FREE)) == {
        "field_step_workflows": "2 are switched on; the free plan allows 1 (plan_limit)"
    }


def test_decimals_beyond_a_float_travel_exactly_through_json_and_yaml() -> None:
    precise = {"type": "number", "value": "0.12345678901234567890"}
    tiny = {"type": "number", "value": "0.0000001"}
    store = FakeAutomationStore(a_tenant(constants={**CONSTANTS, "precise": precise, "tiny": tiny}))
    document = export_document(store.load(TENANT_ID))

    as_json, as_yaml = to_json(document), to_yaml(document)
    assert '"value": 0.12345678901234567890' in as_json and '"value": 0.0000001' in as_json
    assert "value: 0.12345678901234567890" in as_yaml and "value: 0.0000001" in as_yaml
    for text, parse in ((as_json, from_json), (as_yaml, from_yaml)):
        read = validate_document(parse(text), store.load(TENANT_ID)).constants
        assert read["precise"].value == Decimal("0.12345678901234567890"), text
        assert read["tiny"].value == Decimal("0.0000001")
        assert read["seats"].value == Decimal("40")
