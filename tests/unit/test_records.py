"""The dispatcher's per-record path without pydantic: stream images decoded into plain dicts,
diffed directly, conditions as closures over them. Each test holds it against the pydantic path
(powertools' deserializer, ``parse_item``, the models' diff): same values, same changes, same runs
fired, and the same JSON request for the runner."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

from bench.workload import NEVER, build
from dealflow.engine import records
from dealflow.engine.changes import ChangeKind, diff
from dealflow.engine.compiled import AutomationIndex, TenantAutomation
from dealflow.engine.dispatch import plan_record, plan_runs
from dealflow.engine.run_requests import run_request
from dealflow.model import Pipeline, Rule, Stage, Tenant, Trigger, parse_item

POWERTOOLS = TypeDeserializer().deserialize
TENANT = Tenant(id="t1", name="Example Ltd")
SALES = Pipeline(
    id="sales",
    name="Sales",
    stages=[Stage(id="offer", name="Offer"), Stage(id="won", name="Won", semantic="won")],
)


def pydantic_path(image: dict[str, Any] | None) -> Any:
    """An image as the dispatcher read it before: powertools' deserializer, then the model."""
    return None if image is None else parse_item({k: POWERTOOLS(v) for k, v in image.items()})


def deal_image(stage_id: str = "offer", **attributes: dict[str, Any] | None) -> dict[str, Any]:
    """A deal's stream image; an attribute given as None is left out."""
    image: dict[str, Any] = {
        "tenant_id": {"S": "t1"},
        "id": {"S": "d1"},
        "pipeline_id": {"S": "sales"},
        "stage_id": {"S": stage_id},
        "title": {"S": "Big deal"},
        "entity": {"S": "deal"},
        "version": {"N": "1"},
    }
    for name, attribute in attributes.items():
        if attribute is None:
            image.pop(name, None)
        else:
            image[name] = attribute
    return image


def automation(*items: Rule | Trigger) -> TenantAutomation:
    return TenantAutomation(
        tenant=TENANT, pipelines={"sales": SALES}, fields={}, index=AutomationIndex(items), version=1
    )


def rule(rule_id: str, condition: dict[str, Any] | None, stage_id: str = "won") -> Rule:
    return Rule.model_validate(
        {
            "id": rule_id,
            "name": rule_id,
            "pipeline_id": "sales",
            "stage_id": stage_id,
            "condition": condition,
            "actions": [{"kind": "notify", "to": {"responsible": True}, "message": "won"}],
        }
    )


# --- decoding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attribute",
    [
        {"S": "won"},
        {"S": ""},
        {"N": "12500.00"},
        {"N": "-0.5"},
        {"N": "1E+5"},
        {"N": "1234567890123456789012345678901234567800000"},  # 43 digits, the trailing ones zeros
        {"NULL": True},
        {"BOOL": False},
        {"BOOL": True},
        {"L": [{"S": "a"}, {"N": "2"}, {"L": [{"BOOL": True}]}]},
        {"M": {"outer": {"M": {"inner": {"N": "3.10"}, "none": {"NULL": True}}}}},
        {"SS": ["b", "a"]},
        {"NS": ["1", "2.50"]},
        {"L": []},
        {"M": {}},
    ],
)
def test_an_attribute_decodes_as_powertools_decodes_it(attribute: dict[str, Any]) -> None:
    mine, theirs = records.value(attribute), POWERTOOLS(attribute)
    assert mine == theirs and type(mine) is type(theirs)
    assert str(mine) == str(theirs)  # Decimal keeps its exponent: "12500.00", not "12500"


def test_a_number_beyond_dynamodb_range_is_refused_like_powertools_refuses_it() -> None:
    with pytest.raises(ArithmeticError):
        POWERTOOLS({"N": "1E+200"})
    with pytest.raises(ArithmeticError):
        records.value({"N": "1E+200"})


def test_an_unknown_attribute_type_is_an_error() -> None:
    with pytest.raises(TypeError):
        records.value({"X": "?"})


def test_an_image_decodes_to_the_item_the_model_is_validated_from() -> None:
    image = deal_image(
        amount={"N": "12500.00"},
        contact={"M": {"name": {"S": "Nora"}, "email": {"S": "nora@example.com"}}},
        fields={"M": {"tags": {"SS": ["vip"]}, "probability": {"N": "35"}}},
        steps={"M": {"s1": {"M": {"by": {"S": "u1"}, "at": {"S": "2025-01-01"}}}}},
        copy_ids={"L": []},
    )
    assert parse_item(records.item(image)) == pydantic_path(image)
    assert records.item(None) is None


# --- diffing -------------------------------------------------------------------------------------------

EDITS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("amount as text and as the same number", {"amount": {"S": "12500.00"}}, {"amount": {"N": "12500"}}),
    ("amount changed", {"amount": {"N": "12500"}}, {"amount": {"N": "12500.01"}}),
    ("same number, other exponent", {"fields": {"M": {"p": {"N": "1.0"}}}}, {"fields": {"M": {"p": {"N": "1"}}}}),
    ("attribute left out vs its default", {"copy_ids": None, "steps": None}, {"steps": {"M": {}}}),
    ("list left out vs empty", {"fields": {"M": {}}}, {"fields": {"M": {"tags": {"L": []}}}}),
    ("list element changed", {"fields": {"M": {"t": {"L": [{"S": "a"}]}}}}, {"fields": {"M": {"t": {"L": []}}}}),
    ("boolean flipped", {"fields": {"M": {"vip": {"BOOL": False}}}}, {"fields": {"M": {"vip": {"BOOL": True}}}}),
    ("boolean false vs missing", {"fields": {"M": {"vip": {"BOOL": False}}}}, {"fields": None}),
    ("nested map changed", {"fields": {"M": {"a": {"M": {"b": {"N": "1"}}}}}}, {"fields": {"M": {"a": {"M": {}}}}}),
    ("set reordered", {"fields": {"M": {"s": {"SS": ["a", "b"]}}}}, {"fields": {"M": {"s": {"SS": ["b", "a"]}}}}),
    ("set grew", {"fields": {"M": {"s": {"NS": ["1"]}}}}, {"fields": {"M": {"s": {"NS": ["1", "2"]}}}}),
    (
        "contact partly given",
        {"contact": {"M": {"name": {"S": "N"}}}},
        {"contact": {"M": {"name": {"S": "N"}, "phone": {"NULL": True}}}},
    ),
    ("company cleared", {"company": {"S": "Acme"}}, {"company": None}),
    ("bookkeeping only", {"version": {"N": "1"}}, {"version": {"N": "2"}, "updated_at": {"S": "now"}}),
]


@pytest.mark.parametrize(("old", "new"), [(o, n) for _, o, n in EDITS], ids=[name for name, _, _ in EDITS])
@pytest.mark.parametrize(("old_stage", "new_stage"), [("offer", "offer"), ("offer", "won")])
def test_a_change_read_from_images_is_the_change_the_models_show(
    old: dict[str, Any], new: dict[str, Any], old_stage: str, new_stage: str
) -> None:
    old_image, new_image = deal_image(old_stage, **old), deal_image(new_stage, **new)
    mine = plan_record(old_image, new_image, "evt-1", lambda _: automation()).change
    theirs = diff(pydantic_path(old_image), pydantic_path(new_image))
    assert mine.kind is theirs.kind is ChangeKind.UPDATED
    assert mine.changed_fields == theirs.changed_fields
    assert mine.entered == theirs.entered
    assert mine.stage_entry == theirs.stage_entry
    assert mine.old == theirs.old and mine.new == theirs.new


def test_creation_and_deletion_read_from_images() -> None:
    image = deal_image("won", amount={"N": "5"})
    created = plan_record(None, image, "evt-1", lambda _: automation()).change
    assert created.kind is ChangeKind.CREATED and created.entered == ("sales", "won")
    assert created.changed_fields == diff(None, pydantic_path(image)).changed_fields
    loaded: list[str] = []
    deleted = plan_record(image, None, "evt-2", lambda t: loaded.append(t) or automation())
    assert deleted.change.kind is ChangeKind.DELETED and (deleted.change.tenant_id, deleted.change.deal_id) == (
        "t1",
        "d1",
    )
    assert deleted.automation is None and loaded == []  # a deletion reads no automation


# --- conditions over plain dicts: the same runs fire --------------------------------------------------

CONDITIONS: list[dict[str, Any]] = [
    {"field": "amount", "op": "gt", "value": 12000},
    {"field": "amount", "op": "gte", "value": "12500.00"},
    {"field": "amount", "op": "lt", "value": 12500.5},
    {"field": "amount", "op": "equals", "value": 12500},
    {"field": "amount", "op": "is_empty"},
    {"field": "amount", "op": "changed"},
    {"field": "probability", "op": "gte", "value": 35},
    {"field": "probability", "op": "in", "value": [35, 40]},
    {"field": "score", "op": "gt", "value": 10},  # a number kept as text
    {"field": "tags", "op": "contains", "value": "vip"},
    {"field": "tags", "op": "in", "value": ["vip", "new"]},
    {"field": "labels", "op": "not_in", "value": ["b"]},
    {"field": "vip", "op": "equals", "value": True},
    {"field": "vip", "op": "is_not_empty"},
    {"field": "nested", "op": "is_empty"},
    {"field": "missing", "op": "is_empty"},
    {"field": "missing", "op": "not_equals", "value": "x"},
    {"field": "title", "op": "contains", "value": "BIG"},
    {"field": "stage_id", "op": "changed_from", "value": "offer"},
    {"field": "company", "op": "changed_to", "value": "Acme"},
    {"any": [{"field": "amount", "op": "lt", "value": 1}, {"field": "vip", "op": "equals", "value": True}]},
    {"all": [{"field": "amount", "op": "gt", "value": 1}, {"field": "tags", "op": "contains", "value": "vip"}]},
]
AMOUNTS = [{"N": "12500.00"}, {"S": "12500.00"}, {"N": "12000"}, None]
CUSTOM = [
    {
        "probability": {"N": "35"},
        "score": {"S": "12"},
        "tags": {"SS": ["vip", "old"]},
        "labels": {"L": [{"S": "a"}, {"S": "b"}]},
        "vip": {"BOOL": True},
        "nested": {"M": {"a": {"NULL": True}}},
    },
    {"probability": {"N": "40.0"}, "tags": {"L": [{"S": "new"}]}, "vip": {"BOOL": False}, "nested": {"M": {}}},
    {},
]


@pytest.mark.parametrize("amount", AMOUNTS)
@pytest.mark.parametrize("custom", CUSTOM)
def test_the_same_rules_fire_as_on_the_pydantic_path(amount: dict[str, Any] | None, custom: dict[str, Any]) -> None:
    rules = automation(*(rule(f"r{n}", c) for n, c in enumerate(CONDITIONS)))
    old_image = deal_image("offer", amount={"N": "1"}, company={"S": "Initech"})
    new_image = deal_image("won", amount=amount, fields={"M": custom}, company={"S": "Acme"})
    mine = plan_record(old_image, new_image, "evt-1", lambda _: rules).plan
    theirs = plan_runs(diff(pydantic_path(old_image), pydantic_path(new_image)), rules, "evt-1")
    fired = [r["automation"]["id"] for r in mine.planned]
    assert fired == [r["automation"]["id"] for r in theirs.planned]
    assert [n.automation.id for n in mine.not_started] == [n.automation.id for n in theirs.not_started]
    assert [n.trace() for n in mine.not_started] == [n.trace() for n in theirs.not_started]
    assert 0 < len(fired) < len(CONDITIONS)  # the edge cases cut both ways


def test_a_workload_fires_the_same_runs_as_the_pydantic_path() -> None:
    for conditions in ("mixed", NEVER):
        workload = build(400, 80, 4, 5, seed=3, conditions=conditions)
        tenant = workload.automation()
        for record in workload.records:
            images = record["dynamodb"]
            old, new = images.get("OldImage"), images.get("NewImage")
            mine = plan_record(old, new, record["eventID"], lambda _, t=tenant: t).plan
            theirs = plan_runs(diff(pydantic_path(old), pydantic_path(new)), tenant, record["eventID"])
            assert [r["run_id"] for r in mine.planned] == [r["run_id"] for r in theirs.planned]
            assert [n.automation.id for n in mine.not_started] == [n.automation.id for n in theirs.not_started]


# --- the request the runner gets ---------------------------------------------------------------------


def test_the_runner_gets_the_request_it_got_from_the_models() -> None:
    won = rule("r-won", {"field": "amount", "op": "gte", "value": 1000})
    old_image = deal_image("offer", amount={"N": "5000"})
    new_image = deal_image(
        "won",
        amount={"N": "5000.00"},
        contact={"M": {"name": {"S": "Nora"}, "email": {"S": "nora@example.com"}}},
        fields={"M": {"tags": {"SS": ["vip"]}, "probability": {"N": "35"}}},
        caused_by={
            "M": {
                "run_id": {"S": "run-x"},
                "automation_id": {"S": "r-x"},
                "depth": {"N": "2"},
                "chain": {"L": [{"S": "r-x"}]},
            }
        },
        version={"N": "3"},
    )
    [request] = plan_record(old_image, new_image, "evt-1", lambda _: automation(won)).plan.runs
    old, new = pydantic_path(old_image), pydantic_path(new_image)
    # as it is built from the models (test mode, manual starts)
    entry = {"pipeline_id": "sales", "stage_id": "won", "from_pipeline_id": "sales", "from_stage_id": "offer"}
    before = run_request(new, won, "evt-1", entry, before=old)
    assert json.loads(request.model_dump_json()) == json.loads(before.model_dump_json())
    assert (request.deal_id, request.deal_version, request.depth, request.chain) == ("d1", 3, 3, ["r-x"])


def test_an_edit_that_moves_no_deal_starts_only_what_watches_its_fields() -> None:
    """Such an edit is diffed only when a trigger, process or workflow waits for changed fields:
    the same runs start either way, and a write of bookkeeping alone reads no automation."""
    watching = Trigger.model_validate(
        {"id": "tr1", "name": "Retitled", "pipeline_id": "sales", "stage_id": "won", "event": "field_changed"}
        | {"field": "title"}
    )
    old, new = deal_image("offer"), deal_image("offer", title={"S": "Bigger deal"})
    [run] = plan_record(old, new, "evt-1", lambda _: automation(watching, rule("r1", None))).plan.planned
    assert run["automation"]["id"] == "tr1"
    # Only stage rules: nothing concerns the edit.
    found = plan_record(old, new, "evt-1", lambda _: automation(rule("r1", None, stage_id="offer")))
    assert found.plan.planned == [] and found.automation is None
    # Bookkeeping alone (a new version): the tenant's automation is not even read.
    loaded: list[str] = []
    bumped = plan_record(
        old, deal_image("offer", version={"N": "2"}), "evt-2", lambda t: loaded.append(t) or automation(watching)
    )
    assert bumped.plan.planned == [] and loaded == []
