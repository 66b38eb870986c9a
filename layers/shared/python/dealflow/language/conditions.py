"""Structured conditions compiled once into fast predicates.

A predicate reads two flat views of a deal (standard fields and custom fields side by side): the
deal as it is now and, for ``changed*`` operators, as it was before the change (None when the deal
was just created). Given a list as ``trace``, it appends what each clause saw, so a run log can
answer "why didn't this rule fire?".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from dealflow.model.automation import AllOf, AnyOf, Clause, Condition

CHANGE_OPERATORS = frozenset({"changed", "changed_from", "changed_to"})
Facts = Mapping[str, Any]
Predicate = Callable[[Facts, Facts | None, list[dict[str, Any]] | None], bool]


def normalize(value: Any) -> Any:
    """One representation per value: numbers as Decimal (1 == 1.0 == "1.0" is not assumed for
    strings), lists element-wise."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, list | tuple | set | frozenset):
        return [normalize(v) for v in value]
    return value


def is_empty(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, str | list | dict) and len(value) == 0)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            return None
    # NaN and infinities are not amounts: comparing with them is simply false.
    return value if isinstance(value, Decimal) and value.is_finite() else None


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(actual: Any, expected: Any) -> bool:
        a, e = _number(actual), _number(expected)
        if a is not None and e is not None and not (isinstance(actual, str) and isinstance(expected, str)):
            return op(a, e)
        if isinstance(actual, str) and isinstance(expected, str):  # ISO dates compare as text
            return op(actual, expected)
        return False

    return compare


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return expected.casefold() in actual.casefold()
    if isinstance(actual, list):
        return expected in actual
    return False


def _in(actual: Any, expected: list[Any]) -> bool:
    if isinstance(actual, list):
        return any(a in expected for a in actual)
    return actual in expected


_STATIC_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": lambda a, e: a == e,
    "not_equals": lambda a, e: a != e,
    "in": _in,
    "not_in": lambda a, e: not _in(a, e),
    "contains": _contains,
    "gt": _ordered(lambda a, e: a > e),
    "gte": _ordered(lambda a, e: a >= e),
    "lt": _ordered(lambda a, e: a < e),
    "lte": _ordered(lambda a, e: a <= e),
    "is_empty": lambda a, _: is_empty(a),
    "is_not_empty": lambda a, _: not is_empty(a),
}


def _compile_clause(clause: Clause) -> Predicate:
    field, op = clause.field, clause.op
    expected = normalize(clause.value)

    if op in _STATIC_TESTS:
        test = _STATIC_TESTS[op]

        def predicate(new: Facts, old: Facts | None, trace: list[dict[str, Any]] | None) -> bool:
            actual = normalize(new.get(field))
            result = test(actual, expected)
            if trace is not None:
                trace.append(
                    {"field": field, "op": op, "value": clause.value, "actual": new.get(field), "result": result}
                )
            return result
    else:

        def predicate(new: Facts, old: Facts | None, trace: list[dict[str, Any]] | None) -> bool:
            now = normalize(new.get(field))
            # A deal that was just created "changed" every field it was created with.
            before = normalize(old.get(field)) if old is not None else None
            changed = now != before and not (old is None and is_empty(now))
            if op == "changed":
                result = changed
            elif op == "changed_from":
                result = changed and before == expected
            else:
                result = changed and now == expected
            if trace is not None:
                trace.append(
                    {
                        "field": field,
                        "op": op,
                        "value": clause.value,
                        "actual": new.get(field),
                        "before": None if old is None else old.get(field),
                        "result": result,
                    }
                )
            return result

    return predicate


def compile_condition(condition: Condition | None) -> Predicate:
    """Turn a structured condition into a predicate; no condition always holds."""
    if condition is None:
        return _always
    if isinstance(condition, Clause):
        return _compile_clause(condition)
    parts = [compile_condition(c) for c in (condition.all if isinstance(condition, AllOf) else condition.any)]
    combine = any if isinstance(condition, AnyOf) else all

    def group(new: Facts, old: Facts | None, trace: list[dict[str, Any]] | None = None) -> bool:
        return combine(p(new, old, trace) for p in parts)

    return group


def _always(new: Facts, old: Facts | None, trace: list[dict[str, Any]] | None = None) -> bool:
    return True


def reads_before(condition: Condition | None) -> bool:
    """Whether a condition compares with the deal as it was (``changed*`` operators)."""
    if condition is None:
        return False
    if isinstance(condition, Clause):
        return condition.op in CHANGE_OPERATORS
    return any(reads_before(c) for c in (condition.all if isinstance(condition, AllOf) else condition.any))


def referenced_fields(condition: Condition | None) -> set[str]:
    """Every field a condition reads (for validation and broken-reference checks)."""
    if condition is None:
        return set()
    if isinstance(condition, Clause):
        return {condition.field}
    children = condition.all if isinstance(condition, AllOf) else condition.any
    return set().union(*(referenced_fields(c) for c in children))


__all__ = [
    "AnyOf",
    "Facts",
    "Predicate",
    "compile_condition",
    "is_empty",
    "normalize",
    "reads_before",
    "referenced_fields",
]
