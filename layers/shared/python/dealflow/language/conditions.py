"""Structured conditions compiled once into fast predicates.

A condition reads two flat views of a deal (standard fields and custom fields side by side): the
deal as it is now and, for ``changed*`` operators, as it was before the change (None when the deal
was just created). Compiled, it is a ``Test``: plain closures over those views once their values
are normalised (``facts``), which the dispatcher does once per record, not once per comparison.
A trace (what each clause saw, so a run log can answer "why didn't this rule fire?") is built only
when asked for: the dispatcher asks after sampling has chosen to write the answer down.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from dealflow.model.conditions import Clause, Condition

CHANGE_OPERATORS = frozenset({"changed", "changed_from", "changed_to"})
Facts = Mapping[str, Any]
Trace = list[dict[str, Any]]
Test = Callable[[Facts, Facts | None], bool]
"""A compiled condition over normalised facts (see ``facts``): the deal now, and before."""


def normalize(value: Any) -> Any:
    """One representation per value: numbers as Decimal, lists and sets element-wise as lists.
    Text stays text (``"1.0"`` is not turned into a number here: ``as_numbers`` decides that per
    comparison, knowing both sides)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, list | tuple | set | frozenset):
        return [normalize(v) for v in value]
    return value


# Values that are already in their one representation: most of a deal, read from DynamoDB.
AS_IS = frozenset({str, Decimal, bool, type(None), dict})


def facts(values: Facts | None) -> dict[str, Any] | None:
    """A flat view with every value normalised once, as a ``Test`` reads it."""
    if values is None:
        return None
    return {k: v if type(v) in AS_IS else normalize(v) for k, v in values.items()}


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


def as_numbers(actual: Any, expected: Any) -> tuple[Decimal, Decimal] | None:
    """The one rule deciding how a deal's value and a condition's value compare, for every
    operator: as decimals when one of them is a number (an amount, a number field) and the other a
    number or text that reads as one (``"12500.00"``, as the API writes amounts); None otherwise,
    and then they compare as they are: two texts as text (so ISO dates order as dates, and a text
    field holding ``"12500"`` is not a number). Booleans are never numbers."""
    if type(actual) is str and type(expected) is str:
        return None
    a, e = _number(actual), _number(expected)
    return (a, e) if a is not None and e is not None else None


def same(actual: Any, expected: Any) -> bool:
    """Whether two values are equal under ``as_numbers``' rule (12500.00 == "12500" == 12500)."""
    numbers = as_numbers(actual, expected)
    if numbers is not None:
        return numbers[0] == numbers[1]
    return bool(actual == expected)


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(actual: Any, expected: Any) -> bool:
        numbers = as_numbers(actual, expected)
        if numbers is not None:
            return op(*numbers)
        if isinstance(actual, str) and isinstance(expected, str):  # ISO dates compare as text
            return op(actual, expected)
        return False

    return compare


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return expected.casefold() in actual.casefold()
    if isinstance(actual, list):
        return any(same(a, expected) for a in actual)
    return False


def _in(actual: Any, expected: list[Any]) -> bool:
    if isinstance(actual, list):
        return any(same(a, e) for a in actual for e in expected)
    return any(same(actual, e) for e in expected)


_STATIC_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": same,
    "not_equals": lambda a, e: not same(a, e),
    "in": _in,
    "not_in": lambda a, e: not _in(a, e),
    "contains": _contains,
    "gt": _ordered(operator.gt),
    "gte": _ordered(operator.ge),
    "lt": _ordered(operator.lt),
    "lte": _ordered(operator.le),
    "is_empty": lambda a, _: is_empty(a),
    "is_not_empty": lambda a, _: not is_empty(a),
}


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _static_test(field: str, op: str, expected: Any) -> Test:
    """``_STATIC_TESTS[op]`` over one field, with fast paths for what most conditions compare — a
    number field with a number, text with text. A fast path answers as the test would (the rule
    stays ``as_numbers``'; a unit test holds them to it); anything else goes to the test."""
    test = _STATIC_TESTS[op]
    number = _number(expected)  # the condition's side, read as a number once
    if op in ("equals", "not_equals"):
        negate, text = op == "not_equals", type(expected) is str

        def equals(new: Facts, old: Facts | None) -> bool:
            actual = new.get(field)
            kind = type(actual)
            if kind is Decimal and number is not None:
                return (actual == number) is not negate
            if kind is str and text:
                return (actual == expected) is not negate
            return test(actual, expected)

        return equals
    if op in _ORDER:
        compare = _ORDER[op]

        def ordered(new: Facts, old: Facts | None) -> bool:
            actual = new.get(field)
            if type(actual) is Decimal and number is not None:
                return actual.is_finite() and compare(actual, number)
            return test(actual, expected)

        return ordered
    if op in ("in", "not_in") and all(type(e) in (str, Decimal) for e in expected):
        negate = op == "not_in"
        texts = frozenset(e for e in expected if type(e) is str)
        numbers = frozenset(n for n in map(_number, expected) if n is not None)
        decimals = frozenset(e for e in expected if type(e) is Decimal and e.is_finite())

        def among(new: Facts, old: Facts | None) -> bool:
            actual = new.get(field)
            if isinstance(actual, Decimal) and actual.is_finite():
                return (actual in numbers) is not negate
            if type(actual) is str:
                found = actual in texts or (bool(decimals) and _number(actual) in decimals)
                return found is not negate
            return test(actual, expected)

        return among
    if op == "contains" and type(expected) is str:
        needle = expected.casefold()

        def contains(new: Facts, old: Facts | None) -> bool:
            actual = new.get(field)
            if type(actual) is str:
                return needle in actual.casefold()
            return test(actual, expected)

        return contains
    return lambda new, old: test(new.get(field), expected)


def _operand_test(field: str, op: str, key: str) -> Test:
    """``_STATIC_TESTS[op]`` of one field against another value of the same view (a constant, a
    variable, another field: ``key``), read on each check; both sides are normalised facts, so the
    common case — two numbers — compares them as they are."""
    test = _STATIC_TESTS[op]
    if op in _ORDER:
        compare = _ORDER[op]

        def ordered(new: Facts, old: Facts | None) -> bool:
            actual, expected = new.get(field), new.get(key)
            if type(actual) is Decimal and type(expected) is Decimal:
                return actual.is_finite() and expected.is_finite() and compare(actual, expected)
            return test(actual, expected)

        return ordered
    if op in ("in", "not_in"):  # a list field: one value is enough to be among it
        return lambda new, old: test(new.get(field), _listed(new.get(key)))
    return lambda new, old: test(new.get(field), new.get(key))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _clause_test(clause: Clause) -> Test:
    field, op = clause.field, clause.op
    operand = clause.operand
    key = None if operand is None else operand.key
    if op in _STATIC_TESTS:
        if key is not None:
            return _operand_test(field, op, key)
        return _static_test(field, op, normalize(clause.value))
    literal = normalize(clause.value) if key is None else None

    def changed(new: Facts, old: Facts | None) -> bool:
        now = new.get(field)
        # A deal that was just created "changed" every field it was created with.
        before = old.get(field) if old is not None else None
        if same(now, before) or (old is None and is_empty(now)):
            return False
        if op == "changed":
            return True
        # An operand is read as it is now: "changed to the target" is the target of the moment.
        expected = literal if key is None else new.get(key)
        return same(before if op == "changed_from" else now, expected)

    return changed


def _group(condition: Condition) -> tuple[bool, Sequence[Condition]] | None:
    """None for a clause; for a group whether it is any-of, and its conditions."""
    # The models load when a condition is first compiled, not when this module is imported: the
    # dispatcher's cold start does not pay for them before its first batch.
    from dealflow.model.conditions import AnyOf, Clause

    if isinstance(condition, Clause):
        return None
    if isinstance(condition, AnyOf):
        return True, condition.any
    return False, condition.all


def compile_test(condition: Condition | None) -> Test:
    """A condition as plain closures over normalised facts; no condition always holds."""
    if condition is None:
        return lambda new, old: True
    group = _group(condition)
    if group is None:
        return _clause_test(cast("Clause", condition))
    some_of, children = group
    parts = tuple(compile_test(c) for c in children)
    if len(parts) == 1:
        return parts[0]
    if some_of:

        def some(new: Facts, old: Facts | None) -> bool:
            for part in parts:  # noqa: SIM110 - a loop, not any(): no generator per record
                if part(new, old):
                    return True
            return False

        return some
    if len(parts) == 2:
        first, second = parts
        return lambda new, old: first(new, old) and second(new, old)

    def every(new: Facts, old: Facts | None) -> bool:
        for part in parts:  # noqa: SIM110 - a loop, not all(): no generator per record
            if not part(new, old):
                return False
        return True

    return every


def explain(condition: Condition | None, new: Facts, old: Facts | None, trace: Trace) -> bool:
    """Evaluate a condition on raw flat views as ``compile_test`` does, appending what each clause
    it looked at saw (groups stop at the first clause that decides them, as the test does)."""
    if condition is None:
        return True
    group = _group(condition)
    if group is None:
        clause = cast("Clause", condition)
        field, operand = clause.field, clause.operand
        read = {field: new.get(field)}
        if operand is not None:
            read[operand.key] = new.get(operand.key)
        result = _clause_test(clause)(facts(read) or {}, facts(old))
        seen = {"field": field, "op": clause.op, "value": clause.value, "actual": new.get(field)}
        if operand is not None:  # what the operand stood for when the clause was checked
            seen["value"] = operand.model_dump()
            seen["resolved"] = new.get(operand.key)
        if clause.op in CHANGE_OPERATORS:
            seen["before"] = None if old is None else old.get(field)
        trace.append({**seen, "result": result})
        return result
    some_of, children = group
    if some_of:
        return any(explain(c, new, old, trace) for c in children)
    return all(explain(c, new, old, trace) for c in children)


class Predicate:
    """A compiled condition for callers holding raw flat views (the runner, test mode): values
    are normalised on each call; given a list as ``trace``, what each clause saw is appended."""

    __slots__ = ("condition", "test")

    def __init__(self, condition: Condition | None) -> None:
        self.condition = condition
        self.test = compile_test(condition)

    def __call__(self, new: Facts, old: Facts | None = None, trace: Trace | None = None) -> bool:
        if trace is not None:
            return explain(self.condition, new, old, trace)
        return self.test(facts(new) or {}, facts(old))


def compile_condition(condition: Condition | None) -> Predicate:
    """Turn a structured condition into a predicate; no condition always holds."""
    return Predicate(condition)


def reads_before(condition: Condition | None) -> bool:
    """Whether a condition compares with the deal as it was (``changed*`` operators)."""
    if condition is None:
        return False
    group = _group(condition)
    if group is None:
        return cast("Clause", condition).op in CHANGE_OPERATORS
    return any(reads_before(c) for c in group[1])


def referenced_fields(condition: Condition | None) -> set[str]:
    """Every field a condition reads (for validation and broken-reference checks), operands'
    included (``const.<name>`` and ``var.<name>`` as conditions' views hold them)."""
    if condition is None:
        return set()
    group = _group(condition)
    if group is None:
        clause = cast("Clause", condition)
        operand = clause.operand
        return {clause.field} if operand is None else {clause.field, operand.key}
    return set().union(*(referenced_fields(c) for c in group[1]))


def clauses(condition: Condition | None) -> list[Clause]:
    """Every clause of a condition, in the order it is written."""
    if condition is None:
        return []
    group = _group(condition)
    if group is None:
        return [cast("Clause", condition)]
    return [clause for c in group[1] for clause in clauses(c)]


__all__ = [
    "Facts",
    "Predicate",
    "Test",
    "as_numbers",
    "clauses",
    "compile_condition",
    "compile_test",
    "explain",
    "facts",
    "is_empty",
    "normalize",
    "reads_before",
    "referenced_fields",
    "same",
]
