"""The bounds of what can be stored, as field types: every number must fit a DynamoDB number and
every text a finite length, so bad input is refused naming its field instead of failing when it
is written (boto3's serializer raises ``decimal.Overflow`` past DynamoDB's range)."""

from __future__ import annotations

from decimal import Clamped, Context, Decimal, DecimalException, Inexact, Overflow, Rounded, Underflow
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

# DynamoDB numbers: up to 38 significant digits, magnitudes from 1E-130 to 9.99…E+125 (and zero).
MAX_DIGITS = 38
MIN_EXPONENT = -130
MAX_EXPONENT = 125
LARGEST = Decimal("9." + "9" * (MAX_DIGITS - 1) + f"E+{MAX_EXPONENT}")

# Generous for anything a person types; the biggest template text (an e-mail body) is 100,000.
MAX_TEXT = 100_000
# Keys of objects (custom field codes, variable names, ids used as keys) and short labels.
MAX_KEY = 256

NUMBER_RULE = (
    f"a number DynamoDB can store: at most {MAX_DIGITS} significant digits, "
    f"magnitude 1E{MIN_EXPONENT} to 9.99…E+{MAX_EXPONENT}, or 0"
)


# The context boto3's serializer writes numbers with: whatever it would round or clamp, it refuses.
_DYNAMODB = Context(Emin=-128, Emax=126, prec=MAX_DIGITS, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def number_problem(number: Decimal) -> str | None:
    """Why ``number`` cannot be stored, or None when it can."""
    if not number.is_finite():
        return f"{number} is not a finite number"
    digits = len(number.as_tuple().digits)
    if digits > MAX_DIGITS:
        return f"{number} has {digits} digits; {NUMBER_RULE}"
    if not number.is_zero() and not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        return f"{number} is out of range; {NUMBER_RULE}"
    try:
        _DYNAMODB.create_decimal(number)
    except DecimalException:
        return f"{number} is out of range; {NUMBER_RULE}"
    return None


def _storable(number: Decimal) -> Decimal:
    problem = number_problem(number)
    if problem:
        raise ValueError(problem)
    return number


def storable_value(value: Any) -> Any:
    """``value`` itself when every number in it (nested too) can be stored; else ValueError naming
    where (``amount_eur: …``, ``tiers.2: …``) when the value is an object."""
    where, problem = _unstorable(value, ())
    if problem is None:
        return value
    # A message "path: problem" is read as naming the field (see http_errors.problems_from).
    raise ValueError(f"{'.'.join(where)}: {problem}" if where and where[0][:1].isalpha() else problem)


def _unstorable(value: Any, where: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    items: Any = ()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return where, number_problem(Decimal(str(value)))
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    for key, item in items:
        found = _unstorable(item, (*where, str(key)))
        if found[1] is not None:
            return found
    return where, None


_NUMBERS: list[dict[str, Any]] = [
    {"type": "number", "minimum": 1e-130, "maximum": 9.9e125},
    {"type": "number", "minimum": -9.9e125, "maximum": -1e-130},
    {"const": 0},
]
_NUMBER_SCHEMA = {
    "anyOf": [
        *_NUMBERS,
        {
            "type": "string",
            "pattern": r"^-?\d{1,19}(\.\d{1,19})?$",
            "description": f"A decimal as text; {NUMBER_RULE}",
        },
    ]
}
_SCALARS: list[dict[str, Any]] = [
    {"type": "string", "maxLength": MAX_TEXT},
    {"type": "boolean"},
    {"type": "null"},
    *_NUMBERS,
]
_VALUE_SCHEMA = {
    "anyOf": [*_SCALARS, {"type": "array", "items": {"anyOf": _SCALARS}}],
    "description": f"Text, true or false, a number ({NUMBER_RULE}) or a list of them",
}

StoredDecimal = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    AfterValidator(_storable),
    WithJsonSchema(_NUMBER_SCHEMA, mode="validation"),
]
"""A Decimal DynamoDB can store (amounts, numeric constants and variables, literal values)."""

StoredValue = Annotated[Any, AfterValidator(storable_value), WithJsonSchema(_VALUE_SCHEMA, mode="validation")]
"""A value a person sets (a custom field, a condition's value): any JSON, every number in it storable."""

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
"""Free text without a tighter bound of its own."""

Key = Annotated[str, StringConstraints(max_length=MAX_KEY)]
"""A short label or key: a timestamp, an id made by the engine, a custom field's code as a key."""
