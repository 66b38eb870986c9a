"""The bounds every request body is held to: DynamoDB's numbers, nesting, text length."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from dealflow.http_errors import MAX_DEPTH, BadRequest, Invalid, read_json
from dealflow.model.bounds import MAX_TEXT, number_problem


@pytest.mark.parametrize(
    "text",
    ["0", "-0", "0.000", "1E-130", "-1E-130", "9." + "9" * 37 + "E+125", "1" * 38, "12.30", "-7.5"],
)
def test_numbers_dynamodb_stores_pass(text: str) -> None:
    assert number_problem(Decimal(text)) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1E-131", "out of range"),
        ("0E-500", "out of range"),  # a zero, but boto3 would clamp its exponent
        ("0E+500", "out of range"),
        ("1E+126", "out of range"),
        ("-1E+126", "out of range"),
        ("1" * 39, "39 digits"),
        ("1." + "0" * 38, "39 digits"),  # boto3 would have to round it: refused as written
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
    ],
)
def test_numbers_dynamodb_cannot_store_are_named(text: str, says: str) -> None:
    problem = number_problem(Decimal(text))
    assert problem is not None and says in problem


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_a_body_nested_up_to_the_limit_is_read_and_one_level_more_is_refused() -> None:
    # The body object itself is the first level.
    assert read_json(json.dumps({"a": _nested(MAX_DEPTH - 1)})) == {"a": _nested(MAX_DEPTH - 1)}
    with pytest.raises(BadRequest) as caught:
        read_json(json.dumps({"a": _nested(MAX_DEPTH)}))
    assert caught.value.details["problems"][0]["field"] == "a" + ".0" * (MAX_DEPTH - 1)


def test_text_up_to_the_limit_is_read_and_longer_is_named() -> None:
    assert read_json(json.dumps({"note": "x" * MAX_TEXT}))["note"] == "x" * MAX_TEXT
    with pytest.raises(Invalid) as caught:
        read_json(json.dumps({"ok": "x", "notes": ["y", "x" * (MAX_TEXT + 1)]}))
    assert [p["field"] for p in caught.value.problems] == ["notes.1"]


def test_every_number_problem_of_a_body_is_named_at_once() -> None:
    with pytest.raises(Invalid) as caught:
        read_json('{"a": 1e999, "b": {"c": 1e-999}, "d": 12.5}')
    assert [p["field"] for p in caught.value.problems] == ["a", "b.c"]
