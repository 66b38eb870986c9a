"""DealsTable's stream images (DynamoDB JSON, as Lambda delivers them) as plain Python items.

The same values powertools' and boto3's deserializers give (numbers as Decimal in DynamoDB's
context, sets as sets, maps and lists nested), without building their objects per attribute: every
deal change in every tenant is decoded here, twice (old and new image).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB numbers: 38 significant digits, exponents within its range; anything else is refused.
_DYNAMODB = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])
_TRIM = Context(prec=38, traps=[Inexact])  # trailing zeros do not count towards the 38 digits
_ZERO = _DYNAMODB.create_decimal(0)
_create = _DYNAMODB.create_decimal


def number(text: str) -> Decimal:
    """A DynamoDB number (``{"N": "12500.00"}``) as the Decimal DynamoDB stores."""
    if len(text) <= 38:  # at most 38 digits: nothing to round, only the exponent to check
        return _create(text) if text not in ("", ".") else _ZERO
    found = Decimal(text)
    if len(found.as_tuple().digits) > 38:
        found = found.normalize(_TRIM)
    return _create(found)


def _map(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: a["S"] if "S" in a else value(a) for name, a in raw.items()}


def _list(raw: list[Mapping[str, Any]]) -> list[Any]:
    return [value(attribute) for attribute in raw]


_DECODE: dict[str, Callable[[Any], Any]] = {
    "N": number,
    "M": _map,
    "L": _list,
    "BOOL": bool,
    "NULL": lambda _: None,
    "SS": set,
    "NS": lambda raw: {number(n) for n in raw},
    "B": lambda raw: raw,
    "BS": set,
}


def value(attribute: Mapping[str, Any]) -> Any:
    """One DynamoDB-JSON attribute (``{"S": "won"}``, ``{"M": {...}}``, …) as a Python value."""
    text = attribute.get("S")
    if text is not None:  # most of a deal is text, and most of the rest numbers
        return text
    text = attribute.get("N")
    if text is not None:
        return number(text)
    for tag, raw in attribute.items():
        decode = _DECODE.get(tag)
        if decode is None:
            break
        return decode(raw)
    raise TypeError(f"not a DynamoDB attribute: {dict(attribute)!r}")


def item(image: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """A stream record's ``NewImage`` or ``OldImage`` as the stored item (None when absent)."""
    if image is None:
        return None
    # Text inline: most attributes of a deal are text, and a call per attribute is most of the cost.
    return {name: a["S"] if "S" in a else value(a) for name, a in image.items()}
