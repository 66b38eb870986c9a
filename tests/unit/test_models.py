"""What the models refuse when automation or settings are saved, and how they say so."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dealflow.model import (
    STANDARD_FIELDS,
    Deal,
    Delay,
    FieldDefinition,
    FieldKind,
    Notify,
    Pipeline,
    Recipients,
    Rule,
    Tenant,
    Trigger,
    Tunnel,
    UpdateFields,
)


def refused(model: Any, data: Any) -> ValidationError:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    return exc.value


RULE: dict[str, Any] = {
    "id": "r1",
    "name": "Mail on win",
    "pipeline_id": "sales",
    "stage_id": "won",
    "actions": [{"kind": "move_to_stage", "stage_id": "done"}],
}


# --- delays -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [{}, {"minutes": 0}, {"hours": 0}, {"days": -1}, {"minutes": -5}])
def test_delay_under_one_minute_refused(data: dict[str, Any]) -> None:
    assert "delay: must be at least one minute" in str(refused(Delay, data))


@pytest.mark.parametrize(
    ("data", "seconds"),
    [
        ({"minutes": 1}, 60),
        ({"hours": 2}, 7200),
        ({"days": 2}, 172800),
        ({"days": 1, "hours": -23}, 3600),
    ],
)
def test_delays_people_set(data: dict[str, Any], seconds: int) -> None:
    assert Delay.model_validate(data).seconds == seconds


def test_delay_relative_to_a_date_field_may_be_zero_or_negative() -> None:
    assert Delay(relative_to_field="deadline").seconds == 0
    assert Delay(days=-1, relative_to_field="deadline").seconds == -86400  # one day before the deadline


def test_delay_too_long_refused() -> None:
    assert "days" in str(refused(Delay, {"days": 4000}))


def test_rule_with_too_short_delay_refused_naming_the_delay() -> None:
    error = refused(Rule, {**RULE, "delay": {"minutes": 0}})
    assert error.errors()[0]["loc"] == ("delay",)


# --- recipients ---------------------------------------------------------------------------------------------


def test_recipients_with_nobody_refused() -> None:
    assert "to: name at least one recipient" in str(refused(Recipients, {}))
    assert "to: name at least one recipient" in str(refused(Recipients, {"responsible": False, "users": []}))


@pytest.mark.parametrize("data", [{"responsible": True}, {"users": ["u1"]}, {"contact": True}])
def test_recipients_with_someone(data: dict[str, Any]) -> None:
    Recipients.model_validate(data)


def test_recipient_user_ids_are_checked() -> None:
    assert "users" in str(refused(Recipients, {"users": ["bad id!"]}))


def test_notify_to_the_contact_refused() -> None:
    error = refused(Notify, {"to": {"contact": True, "responsible": True}, "message": "hi"})
    assert "to.contact: notifications go to users" in str(error)
    assert error.errors()[0]["loc"] == ("to",)


def test_email_to_the_contact_allowed() -> None:
    rule = Rule.model_validate(
        {**RULE, "actions": [{"kind": "send_email", "to": {"contact": True}, "subject": "Thanks", "body": "Hello"}]}
    )
    assert rule.actions[0].to.contact is True


def test_notify_to_the_contact_refused_inside_a_rule() -> None:
    error = refused(Rule, {**RULE, "actions": [{"kind": "notify", "to": {"contact": True}, "message": "hi"}]})
    assert error.errors()[0]["loc"][:3] == ("actions", 0, "notify")


# --- update fields ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["stage_id", "version", "id", "tenant_id", "pipeline_id", "created_at", "updated_at"])
def test_update_fields_cannot_set_engine_fields(name: str) -> None:
    error = refused(UpdateFields, {"values": {name: {"value": "x"}, "title": {"value": "t"}}})
    message = str(error)
    assert f"values: {name} cannot be set here" in message
    assert "move_to_stage" in message


def test_update_fields_names_every_frozen_field() -> None:
    message = str(refused(UpdateFields, {"values": {"version": {"value": 2}, "stage_id": {"value": "won"}}}))
    assert "values: stage_id, version cannot be set here" in message


def test_update_fields_needs_a_value() -> None:
    assert "values" in str(refused(UpdateFields, {"values": {}}))


def test_field_value_is_a_value_or_an_expression() -> None:
    error = refused(UpdateFields, {"values": {"amount": {"value": 1, "expression": "deal.amount"}}})
    assert "give either value or expression, not both" in str(error)


def test_update_fields_accepts_writable_fields() -> None:
    action = UpdateFields.model_validate(
        {"values": {"amount": {"expression": "deal.amount * 2"}, "sells": {"value": "services"}}}
    )
    assert set(action.values) == {"amount", "sells"}


# --- custom fields ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(STANDARD_FIELDS))
def test_field_code_clashing_with_a_standard_field_refused(code: str) -> None:
    error = refused(FieldDefinition, {"code": code, "name": "Clash", "kind": "text"})
    assert f"'{code}' is a standard deal field; choose another code" in str(error)


def test_field_code_pattern() -> None:
    assert "code" in str(refused(FieldDefinition, {"code": "What We Sell", "name": "x", "kind": "text"}))


def test_list_field_without_options_refused() -> None:
    error = refused(FieldDefinition, {"code": "sells", "name": "What we sell", "kind": "list"})
    assert "options: a list field needs at least one option" in str(error)


def test_options_only_for_list_fields() -> None:
    error = refused(FieldDefinition, {"code": "note", "name": "Note", "kind": "text", "options": ["a"]})
    assert "options: only list fields have options" in str(error)


def test_list_field_with_options() -> None:
    field = FieldDefinition(code="sells", name="What we sell", kind="list", options=["services", "products", "other"])
    assert field.kind is FieldKind.LIST


def test_unknown_field_kind_refused() -> None:
    assert "kind" in str(refused(FieldDefinition, {"code": "x", "name": "x", "kind": "money"}))


# --- pipelines and tenants ----------------------------------------------------------------------------------


def test_pipeline_duplicate_stage_ids_refused() -> None:
    error = refused(
        Pipeline,
        {
            "id": "sales",
            "name": "Sales",
            "stages": [
                {"id": "new", "name": "New"},
                {"id": "won", "name": "Won", "semantic": "won"},
                {"id": "new", "name": "Again"},
            ],
        },
    )
    assert "stages: stage ids must be unique within a pipeline" in str(error)


def test_pipeline_needs_a_stage() -> None:
    assert "stages" in str(refused(Pipeline, {"id": "sales", "name": "Sales", "stages": []}))


def test_pipeline_stage_order() -> None:
    pipeline = Pipeline.model_validate(
        {
            "id": "sales",
            "name": "Sales",
            "stages": [{"id": "new", "name": "New"}, {"id": "won", "name": "Won", "semantic": "won"}],
        }
    )
    assert pipeline.position("won") == 1 and pipeline.position("gone") == -1
    assert pipeline.stage("won").semantic == "won" and pipeline.stage("gone") is None


def test_stage_semantic_is_checked() -> None:
    error = refused(Pipeline, {"id": "s", "name": "S", "stages": [{"id": "a", "name": "A", "semantic": "maybe"}]})
    assert "semantic" in str(error)


def test_tenant_duplicate_users_refused() -> None:
    error = refused(
        Tenant,
        {
            "id": "t1",
            "name": "Example",
            "users": [
                {"id": "u1", "name": "Uma", "email": "uma@example.com"},
                {"id": "u1", "name": "Ulf", "email": "ulf@example.com"},
            ],
        },
    )
    assert "users: user ids must be unique" in str(error)


def test_tenant_user_email_checked() -> None:
    error = refused(Tenant, {"id": "t1", "name": "Example", "users": [{"id": "u1", "name": "Uma", "email": "nope"}]})
    assert "email" in str(error)


# --- unknown keys are errors, not silently dropped ----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "key"),
    [
        (Rule, {**RULE, "stage": "won"}, "stage"),
        (Rule, {**RULE, "condition": {"field": "a", "op": "is_empty", "negate": True}}, "negate"),
        (Rule, {**RULE, "actions": [{"kind": "move_to_stage", "stage_id": "x", "force": True}]}, "force"),
        (Rule, {**RULE, "delay": {"days": 1, "weeks": 1}}, "weeks"),
        (Recipients, {"responsible": True, "cc": ["u1"]}, "cc"),
        (Pipeline, {"id": "s", "name": "S", "stages": [{"id": "a", "name": "A", "colour": "red"}]}, "colour"),
        (Tenant, {"id": "t1", "name": "T", "billing_tier": "gold"}, "billing_tier"),
        (FieldDefinition, {"code": "x", "name": "x", "kind": "text", "required": True}, "required"),
        (
            Deal,
            {"tenant_id": "t1", "id": "d1", "pipeline_id": "s", "stage_id": "a", "title": "T", "sells": "x"},
            "sells",
        ),
    ],
)
def test_unknown_keys_refused_naming_the_key(model: Any, data: dict[str, Any], key: str) -> None:
    error = refused(model, data)
    extra = [e for e in error.errors() if e["type"] == "extra_forbidden"]
    assert extra, error.errors()
    assert extra[0]["loc"][-1] == key
    assert key in str(error)


# --- ids ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "has space", "-leading", "a" * 65, "x/y"])
def test_ids_keep_to_a_safe_alphabet(bad: str) -> None:
    assert "id" in str(refused(Rule, {**RULE, "id": bad}))


def test_rule_needs_an_action() -> None:
    assert "actions" in str(refused(Rule, {**RULE, "actions": []}))


def test_unknown_action_kind_refused() -> None:
    assert "kind" in str(refused(Rule, {**RULE, "actions": [{"kind": "call_webhook", "url": "http://x"}]}))


# --- tunnels and triggers -----------------------------------------------------------------------------------


def test_tunnel_into_its_own_pipeline_refused() -> None:
    error = refused(
        Tunnel,
        {
            "id": "t",
            "name": "T",
            "pipeline_id": "sales",
            "stage_id": "won",
            "target_pipeline_id": "sales",
            "target_stage_id": "new",
            "mode": "copy",
        },
    )
    assert "target_pipeline_id: a tunnel leads to another pipeline" in str(error)


def test_field_trigger_needs_its_field() -> None:
    error = refused(
        Trigger, {"id": "t", "name": "T", "pipeline_id": "sales", "stage_id": "offer", "event": "field_changed"}
    )
    assert "field: required for field_changed triggers" in str(error)
    error = refused(
        Trigger,
        {
            "id": "t",
            "name": "T",
            "pipeline_id": "sales",
            "stage_id": "offer",
            "event": "invoice_paid",
            "field": "amount",
        },
    )
    assert "field: required for field_changed triggers, and only for them" in str(error)


def test_custom_trigger_needs_its_event_name() -> None:
    error = refused(Trigger, {"id": "t", "name": "T", "pipeline_id": "sales", "stage_id": "offer", "event": "custom"})
    assert "custom_event: required for custom triggers" in str(error)


def test_trigger_moves_forward_only_by_default() -> None:
    trigger = Trigger(id="t", name="Paid", pipeline_id="sales", stage_id="won", event="invoice_paid")
    [action] = trigger.effective_actions
    assert action.kind == "move_to_stage" and action.stage_id == "won" and action.forward_only is True
