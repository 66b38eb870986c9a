"""Structured conditions: what a rule author writes decides whether a deal's automation runs."""

from __future__ import annotations

import operator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from dealflow.language.conditions import as_numbers, compile_condition, is_empty, normalize, referenced_fields, same
from dealflow.model import AllOf, AnyOf, Clause, Condition, Rule

CONDITION = TypeAdapter(Condition)


def holds(
    condition: dict[str, Any] | None,
    new: dict[str, Any],
    old: dict[str, Any] | None = None,
    trace: list[dict[str, Any]] | None = None,
) -> bool:
    parsed = None if condition is None else CONDITION.validate_python(condition)
    return compile_condition(parsed)(new, old, trace)


def clause(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op} if value is None else {"field": field, "op": op, "value": value}


# --- every operator, true and false ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        ("equals", "services", "services", True),
        ("equals", "services", "products", False),
        ("equals", "services", None, False),
        ("not_equals", "services", "products", True),
        ("not_equals", "services", "services", False),
        ("not_equals", "services", None, True),
        ("in", ["services", "products"], "products", True),
        ("in", ["services", "products"], "other", False),
        ("in", ["services"], None, False),
        ("not_in", ["services", "products"], "other", True),
        ("not_in", ["services", "products"], "services", False),
        ("contains", "acme", "ACME Corporation", True),  # text search ignores case
        ("contains", "globex", "ACME Corporation", False),
        ("contains", "acme", None, False),
        ("gt", 1000, Decimal("1500"), True),
        ("gt", 1000, Decimal("1000"), False),
        ("gt", 1000, None, False),
        ("gte", 1000, Decimal("1000"), True),
        ("gte", 1000, Decimal("999.99"), False),
        ("lt", 1000, Decimal("999.99"), True),
        ("lt", 1000, Decimal("1000"), False),
        ("lte", 1000, Decimal("1000"), True),
        ("lte", 1000, Decimal("1000.01"), False),
        ("is_empty", None, None, True),
        ("is_empty", None, "", True),
        ("is_empty", None, [], True),
        ("is_empty", None, False, True),  # an unticked checkbox is empty
        ("is_empty", None, "x", False),
        ("is_empty", None, Decimal("0"), False),  # zero is a value, not an empty field
        ("is_not_empty", None, "x", True),
        ("is_not_empty", None, Decimal("0"), True),
        ("is_not_empty", None, None, False),
        ("is_not_empty", None, "", False),
    ],
)
def test_static_operators(op: str, value: Any, actual: Any, expected: bool) -> None:
    assert holds(clause("f", op, value), {"f": actual}) is expected


@pytest.mark.parametrize(
    ("op", "value", "before", "after", "expected"),
    [
        ("changed", None, "a", "b", True),
        ("changed", None, "a", "a", False),
        ("changed", None, None, "a", True),
        ("changed", None, "a", None, True),  # clearing a field is a change
        ("changed_from", "new", "new", "qualified", True),
        ("changed_from", "new", "other", "qualified", False),
        ("changed_from", "new", "new", "new", False),  # no change at all
        ("changed_to", "won", "open", "won", True),
        ("changed_to", "won", "open", "lost", False),
        ("changed_to", "won", "won", "won", False),  # was already won: not a change to won
    ],
)
def test_change_operators(op: str, value: Any, before: Any, after: Any, expected: bool) -> None:
    assert holds(clause("f", op, value), {"f": after}, {"f": before}) is expected


def test_changed_ignores_number_representation() -> None:
    assert holds(clause("amount", "changed"), {"amount": Decimal("1000.00")}, {"amount": 1000}) is False
    assert holds(clause("amount", "changed_to", 1000), {"amount": Decimal("1000.00")}, {"amount": 5}) is True


# --- a deal that was just created (old is None) ------------------------------------------------------


def test_changed_on_creation_counts_fields_it_was_created_with() -> None:
    assert holds(clause("f", "changed"), {"f": "x"}, None) is True


def test_changed_on_creation_ignores_fields_left_empty() -> None:
    assert holds(clause("f", "changed"), {"f": None}, None) is False
    assert holds(clause("f", "changed"), {"f": ""}, None) is False
    assert holds(clause("f", "changed"), {}, None) is False


def test_changed_to_on_creation() -> None:
    assert holds(clause("stage_id", "changed_to", "won"), {"stage_id": "won"}, None) is True
    assert holds(clause("stage_id", "changed_to", "won"), {"stage_id": "open"}, None) is False


def test_changed_from_on_creation_is_false() -> None:
    # a new deal had no earlier value, so it cannot have changed *from* anything
    assert holds(clause("stage_id", "changed_from", "open"), {"stage_id": "won"}, None) is False


# --- numbers -----------------------------------------------------------------------------------------


def test_decimal_with_trailing_zeros_equals_int() -> None:
    assert holds(clause("amount", "equals", 1000), {"amount": Decimal("1000.00")}) is True
    assert holds(clause("amount", "equals", Decimal("1000.00")), {"amount": 1000}) is True
    assert holds(clause("amount", "not_equals", 1000), {"amount": Decimal("1000.00")}) is False


def test_float_value_equals_decimal() -> None:
    assert holds(clause("amount", "equals", 0.1), {"amount": Decimal("0.1")}) is True


def test_in_with_numbers_normalised() -> None:
    assert holds(clause("n", "in", [1, 2, 3]), {"n": Decimal("2.0")}) is True
    assert holds(clause("n", "not_in", [1, 2, 3]), {"n": Decimal("4")}) is True


@pytest.mark.parametrize(
    ("actual", "value"),
    [
        (Decimal("1500"), 1000),
        (1500, Decimal("1000")),
        (Decimal("1500"), "1000"),
        ("1500", 1000),
        (1500.5, "1500.25"),
    ],
)
def test_gt_across_number_types(actual: Any, value: Any) -> None:
    assert holds(clause("amount", "gt", value), {"amount": actual}) is True
    assert holds(clause("amount", "lt", value), {"amount": actual}) is False


# One rule for every operator: a number against a number or text that reads as one compares as
# decimals (the API writes amounts as text: "12500.00"); two texts compare as text.
@pytest.mark.parametrize("value", ["12500.00", "12500", 12500, Decimal("12500.0")])
@pytest.mark.parametrize("amount", [Decimal("12500.00"), Decimal("12500"), 12500])
def test_a_number_written_as_text_matches_the_amount_with_every_operator(value: Any, amount: Any) -> None:
    deal = {"amount": amount}
    assert holds(clause("amount", "equals", value), deal) is True
    assert holds(clause("amount", "not_equals", value), deal) is False
    assert holds(clause("amount", "in", [value]), deal) is True
    assert holds(clause("amount", "not_in", [value]), deal) is False
    assert holds(clause("amount", "gte", value), deal) is True
    assert holds(clause("amount", "lte", value), deal) is True
    assert holds(clause("amount", "gt", value), deal) is False
    assert holds(clause("amount", "changed_to", value), deal, {"amount": Decimal("9000")}) is True
    assert holds(clause("amount", "changed_from", value), {"amount": Decimal("9000")}, deal) is True


def test_a_number_text_is_still_a_different_number() -> None:
    assert holds(clause("amount", "equals", "12500.01"), {"amount": Decimal("12500")}) is False
    assert holds(clause("amount", "in", ["1", "2"]), {"amount": Decimal("12500")}) is False
    assert holds(clause("amount", "not_equals", "12500.01"), {"amount": Decimal("12500")}) is True


def test_two_texts_compare_as_text_even_when_they_read_as_numbers() -> None:
    # a text field is not a number field: its "12500" is not the constant "12500.00"
    assert holds(clause("reference", "equals", "12500.00"), {"reference": "12500"}) is False
    assert holds(clause("reference", "equals", "12500"), {"reference": "12500"}) is True
    assert holds(clause("reference", "in", ["007"]), {"reference": "7"}) is False


def test_text_that_is_no_number_never_equals_a_number() -> None:
    assert holds(clause("amount", "equals", "lots"), {"amount": Decimal("5")}) is False
    assert holds(clause("amount", "not_equals", "lots"), {"amount": Decimal("5")}) is True
    assert holds(clause("flag", "equals", "1"), {"flag": True}) is False  # a checkbox is not a number


def test_a_multi_value_field_of_numbers_matches_numbers_written_as_text() -> None:
    assert holds(clause("sizes", "in", ["2.00"]), {"sizes": [Decimal("1"), Decimal("2")]}) is True
    assert holds(clause("sizes", "contains", "2"), {"sizes": [Decimal("1"), Decimal("2.00")]}) is True


def _is_nan(value: Any) -> bool:
    return isinstance(value, Decimal) and value.is_nan()


_VALUES = [
    Decimal("12500"),
    Decimal("12500.00"),
    Decimal("0"),
    Decimal("NaN"),
    "12500",
    "12500.00",
    "services",
    "2024-05-01",
    "",
    True,
    False,
    None,
]


# A condition cannot be saved with NaN (the model refuses numbers DynamoDB cannot store), but a
# field's value reaching a clause may be anything.
@pytest.mark.parametrize(
    "expected", [v for v in _VALUES if v is not None and not isinstance(v, bool) and not _is_nan(v)]
)
@pytest.mark.parametrize("actual", _VALUES)
def test_every_operator_follows_the_one_number_rule(actual: Any, expected: Any) -> None:
    # However a clause is compiled (fast paths for the common comparisons), it answers as
    # as_numbers says: numbers as decimals, two texts as text, anything else as it is.
    numbers = as_numbers(normalize(actual), normalize(expected))
    both_text = isinstance(actual, str) and isinstance(expected, str)
    for op, compare in (("gt", operator.gt), ("gte", operator.ge), ("lt", operator.lt), ("lte", operator.le)):
        want = compare(*numbers) if numbers else (compare(actual, expected) if both_text else False)
        assert holds(clause("f", op, expected), {"f": actual}) is want, (op, actual, expected)
    equal = same(normalize(actual), normalize(expected))
    assert holds(clause("f", "equals", expected), {"f": actual}) is equal
    assert holds(clause("f", "not_equals", expected), {"f": actual}) is not equal
    assert holds(clause("f", "in", [expected, "other"]), {"f": actual}) is equal
    assert holds(clause("f", "not_in", [expected, "other"]), {"f": actual}) is not equal
    assert holds(clause("f", "changed_to", expected), {"f": actual}, {"f": "before"}) is (
        equal and not same(actual, "before")
    )


def test_gt_with_a_non_number_text_is_false() -> None:
    assert holds(clause("amount", "gt", 1000), {"amount": "lots"}) is False
    assert holds(clause("amount", "lt", 1000), {"amount": "lots"}) is False


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("actual", ["Nan", "NaN", "sNaN", Decimal("NaN")])
def test_ordered_compare_against_nan_is_false_not_a_crash(op: str, actual: Any) -> None:
    # a contact called "Nan" parses as Decimal NaN; comparing with it used to raise InvalidOperation
    assert holds(clause("nickname", op, 5), {"nickname": actual}) is False
    assert holds(clause("amount", op, "NaN"), {"amount": Decimal("5")}) is False


def test_ordered_compare_does_not_treat_booleans_as_numbers() -> None:
    assert holds(clause("flag", "gt", 0), {"flag": True}) is False


# --- dates -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "actual", "expected"),
    [
        ("gt", "2024-05-02", True),
        ("gt", "2024-05-01", False),
        ("gte", "2024-05-01", True),
        ("lt", "2024-04-30", True),
        ("lt", "2024-05-01", False),
        ("lte", "2024-05-01", True),
        ("lte", "2024-12-31", False),
        ("gt", "2025-01-01", True),
    ],
)
def test_iso_dates_compare_chronologically(op: str, actual: str, expected: bool) -> None:
    assert holds(clause("deadline", op, "2024-05-01"), {"deadline": actual}) is expected


def test_missing_date_is_never_before_or_after() -> None:
    assert holds(clause("deadline", "lt", "2024-05-01"), {}) is False
    assert holds(clause("deadline", "gt", "2024-05-01"), {}) is False


# --- multi-value (list) fields -------------------------------------------------------------------------


def test_in_with_a_multi_value_field_matches_any_selected_value() -> None:
    assert holds(clause("sells", "in", ["services"]), {"sells": ["products", "services"]}) is True
    assert holds(clause("sells", "in", ["other"]), {"sells": ["products", "services"]}) is False
    assert holds(clause("sells", "not_in", ["other"]), {"sells": ["products", "services"]}) is True
    assert holds(clause("sells", "not_in", ["services"]), {"sells": ["products", "services"]}) is False


def test_contains_on_a_multi_value_field() -> None:
    assert holds(clause("sells", "contains", "services"), {"sells": ["products", "services"]}) is True
    assert holds(clause("sells", "contains", "other"), {"sells": ["products", "services"]}) is False
    assert holds(clause("sizes", "contains", 2), {"sizes": [Decimal("1"), Decimal("2.00")]}) is True


def test_empty_multi_value_field() -> None:
    assert holds(clause("sells", "is_empty"), {"sells": []}) is True
    assert holds(clause("sells", "in", ["services"]), {"sells": []}) is False


# --- all / any -------------------------------------------------------------------------------------------

WON_SERVICES = {"all": [clause("stage_id", "equals", "won"), clause("sells", "equals", "services")]}
WON_OR_BIG = {"any": [clause("stage_id", "equals", "won"), clause("amount", "gte", 10000)]}


def test_all_needs_every_part() -> None:
    assert holds(WON_SERVICES, {"stage_id": "won", "sells": "services"}) is True
    assert holds(WON_SERVICES, {"stage_id": "won", "sells": "products"}) is False
    assert holds(WON_SERVICES, {"stage_id": "lost", "sells": "services"}) is False


def test_any_needs_one_part() -> None:
    assert holds(WON_OR_BIG, {"stage_id": "won", "amount": Decimal("1")}) is True
    assert holds(WON_OR_BIG, {"stage_id": "open", "amount": Decimal("10000")}) is True
    assert holds(WON_OR_BIG, {"stage_id": "open", "amount": Decimal("9999.99")}) is False


def test_nested_all_inside_any_inside_all() -> None:
    condition = {
        "all": [
            clause("currency", "equals", "EUR"),
            {
                "any": [
                    {"all": [clause("sells", "equals", "services"), clause("amount", "gt", 500)]},
                    clause("company", "contains", "vip"),
                ]
            },
        ]
    }
    assert holds(condition, {"currency": "EUR", "sells": "services", "amount": Decimal("600")}) is True
    assert holds(condition, {"currency": "EUR", "sells": "services", "amount": Decimal("400")}) is False
    assert holds(condition, {"currency": "EUR", "sells": "products", "company": "VIP Ltd"}) is True
    assert holds(condition, {"currency": "USD", "sells": "products", "company": "VIP Ltd"}) is False


def test_no_condition_always_holds() -> None:
    assert compile_condition(None)({}, None, None) is True
    assert compile_condition(None)({}, None) is True


# --- the trace ("why didn't this rule fire?") -----------------------------------------------------------


def test_trace_records_each_clause() -> None:
    trace: list[dict[str, Any]] = []
    result = holds(WON_SERVICES, {"stage_id": "won", "sells": "products"}, trace=trace)
    assert result is False
    assert [(t["field"], t["op"], t["actual"], t["result"]) for t in trace] == [
        ("stage_id", "equals", "won", True),
        ("sells", "equals", "products", False),
    ]
    assert trace[1]["value"] == "services"


def test_trace_shows_the_raw_value_the_deal_had() -> None:
    trace: list[dict[str, Any]] = []
    holds(clause("amount", "gt", 1000), {"amount": Decimal("999.50")}, trace=trace)
    assert trace == [{"field": "amount", "op": "gt", "value": 1000, "actual": Decimal("999.50"), "result": False}]


def test_trace_of_a_missing_field_shows_none() -> None:
    trace: list[dict[str, Any]] = []
    holds(clause("deadline", "is_not_empty"), {}, trace=trace)
    assert trace == [{"field": "deadline", "op": "is_not_empty", "value": None, "actual": None, "result": False}]


def test_trace_of_a_change_operator_shows_before_and_after() -> None:
    trace: list[dict[str, Any]] = []
    holds(clause("stage_id", "changed_from", "new"), {"stage_id": "won"}, {"stage_id": "open"}, trace=trace)
    assert trace == [
        {"field": "stage_id", "op": "changed_from", "value": "new", "actual": "won", "before": "open", "result": False}
    ]


def test_trace_of_a_change_operator_on_creation_has_no_before() -> None:
    trace: list[dict[str, Any]] = []
    holds(clause("stage_id", "changed"), {"stage_id": "won"}, None, trace=trace)
    assert trace[0]["before"] is None and trace[0]["result"] is True


def test_no_trace_given_is_fine() -> None:
    assert holds(clause("f", "equals", 1), {"f": 1}, trace=None) is True


# --- referenced fields -----------------------------------------------------------------------------------


def test_referenced_fields() -> None:
    condition = CONDITION.validate_python(
        {
            "all": [
                clause("stage_id", "equals", "won"),
                {"any": [clause("sells", "in", ["services"]), clause("amount", "gt", 1), clause("sells", "changed")]},
            ]
        }
    )
    assert referenced_fields(condition) == {"stage_id", "sells", "amount"}
    assert referenced_fields(Clause(field="deadline", op="is_empty")) == {"deadline"}
    assert referenced_fields(None) == set()


# --- helpers ------------------------------------------------------------------------------------------------


def test_normalize_and_is_empty_helpers() -> None:
    assert normalize(1) == Decimal("1") and isinstance(normalize(1), Decimal)
    assert normalize(True) is True  # booleans are not numbers
    assert normalize([1, "a"]) == [Decimal("1"), "a"]
    assert normalize("1.0") == "1.0"  # text stays text
    assert is_empty({}) and not is_empty(0)


# --- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op", ["equals", "not_equals", "contains", "gt", "gte", "lt", "lte", "changed_from", "changed_to", "in", "not_in"]
)
def test_operator_that_needs_a_value_refuses_none(op: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Clause.model_validate({"field": "amount", "op": op})
    message = str(exc.value)
    assert "value" in message and f"'{op}' needs a value" in message


@pytest.mark.parametrize("op", ["is_empty", "is_not_empty", "changed"])
def test_valueless_operator_refuses_a_value(op: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Clause.model_validate({"field": "amount", "op": op, "value": 1})
    assert f"value: operator '{op}' takes no value" in str(exc.value)


@pytest.mark.parametrize("op", ["in", "not_in"])
def test_in_needs_a_list(op: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Clause.model_validate({"field": "sells", "op": op, "value": "services"})
    assert f"value: operator '{op}' needs a list of values" in str(exc.value)


def test_unknown_operator_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        Clause.model_validate({"field": "amount", "op": "greater", "value": 1})
    assert "op" in str(exc.value)


def test_empty_all_and_any_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        CONDITION.validate_python({"all": []})
    assert "all" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        CONDITION.validate_python({"any": []})
    assert "any" in str(exc.value)


def test_a_nested_error_names_its_path() -> None:
    with pytest.raises(ValidationError) as exc:
        CONDITION.validate_python({"all": [clause("a", "equals", 1), {"any": [{"field": "b", "op": "gt"}]}]})
    locs = [e["loc"] for e in exc.value.errors()]
    assert any(loc[:4] == ("all", "all", 1, "any") for loc in locs), locs


# --- JSON rules parse into the right shapes ------------------------------------------------------------------


def test_rule_json_discriminates_clause_all_any() -> None:
    rule = Rule.model_validate(
        {
            "id": "r1",
            "name": "Big services deals",
            "pipeline_id": "sales",
            "stage_id": "won",
            "condition": {
                "all": [
                    {"field": "sells", "op": "equals", "value": "services"},
                    {"any": [{"field": "amount", "op": "gt", "value": 1000}, {"field": "vip", "op": "is_not_empty"}]},
                ]
            },
            "actions": [{"kind": "move_to_stage", "stage_id": "done"}],
        }
    )
    assert isinstance(rule.condition, AllOf)
    first, second = rule.condition.all
    assert isinstance(first, Clause) and first.value == "services"
    assert isinstance(second, AnyOf)
    assert [type(c) for c in second.any] == [Clause, Clause]
    # and the parsed rule evaluates as written
    predicate = compile_condition(rule.condition)
    assert predicate({"sells": "services", "amount": Decimal("1500")}, None, None) is True
    assert predicate({"sells": "services", "amount": Decimal("500")}, None, None) is False
    assert predicate({"sells": "services", "amount": Decimal("500"), "vip": "yes"}, None, None) is True


def test_rule_json_single_clause_and_any() -> None:
    base = {
        "id": "r1",
        "name": "n",
        "pipeline_id": "sales",
        "stage_id": "won",
        "actions": [{"kind": "move_to_stage", "stage_id": "done"}],
    }
    assert isinstance(Rule.model_validate({**base, "condition": clause("a", "is_empty")}).condition, Clause)
    assert isinstance(Rule.model_validate({**base, "condition": {"any": [clause("a", "is_empty")]}}).condition, AnyOf)
    assert Rule.model_validate(base).condition is None


def test_condition_with_extra_keys_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        CONDITION.validate_python({"field": "a", "op": "is_empty", "negate": True})
    assert "negate" in str(exc.value)
