"""Custom field values checked against their field's kind — the one check every write path uses:
the API's deal routes, automation saved or imported (a literal in ``update_fields``) and the
engine's ``update_fields`` action when it runs. A value comes back as its field holds it (a number
as an exact Decimal, a date as its ISO day, a checkbox as true or false), so a deal never stores
``"lots"`` in a number field and conditions compare number fields as numbers.

Problems read as a person would fix them: ``expected a number, got "lots"``; the caller names the
field (``fields.budget``, ``actions.0.values.budget.value``, ``field 'budget'``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dealflow.model import FieldDefinition, FieldKind, Tenant

_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})


class BadFieldValue(ValueError):
    """A value its field cannot hold; the message is the problem, without the field's name."""


def _shown(value: Any) -> str:
    """The value as the caller wrote it (JSON), cut short: ``"lots"``, ``true``, ``[1, 2]``."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def as_number(value: Any) -> Decimal:
    """A number written as one or as text, exactly; never a boolean, NaN or an infinity."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise BadFieldValue(f"expected a number, got {_shown(value)}")
    try:
        number = Decimal(str(value))  # a float through its shortest text, not its binary value
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise BadFieldValue(f"expected a number, got {_shown(value)}")
    return number


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
        try:  # a moment (an expression's result, an ISO timestamp): its day
            return datetime.fromisoformat(value).date().isoformat()
        except ValueError:
            pass
    raise BadFieldValue(f"expected a date (YYYY-MM-DD), got {_shown(value)}")


def _checkbox(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # Text and 0/1 as expressions and imports write them.
    if isinstance(value, str | int | Decimal):
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise BadFieldValue(f"expected true or false, got {_shown(value)}")


def field_value(definition: FieldDefinition, value: Any, tenant: Tenant) -> Any:
    """``value`` as ``definition``'s field holds it, or BadFieldValue saying what is wrong. None
    clears a field of any kind; a user field names a user of ``tenant``."""
    if value is None:
        return None
    match definition.kind:
        case FieldKind.NUMBER:
            return as_number(value)
        case FieldKind.DATE:
            return _day(value)
        case FieldKind.CHECKBOX:
            return _checkbox(value)
        case FieldKind.LIST:
            if isinstance(value, bool) or str(value) not in definition.options:
                raise BadFieldValue(f"expected one of {', '.join(definition.options)}; got {_shown(value)}")
            return str(value)
        case FieldKind.USER:
            if not isinstance(value, str):
                raise BadFieldValue(f"expected a user id, got {_shown(value)}")
            if tenant.user(value) is None:
                raise BadFieldValue(f"no user '{value}' in this tenant")
            return value
        case _:
            if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
                raise BadFieldValue(f"expected text, got {_shown(value)}")
            return str(value)


def field_values(
    values: Mapping[str, Any], fields: Mapping[str, FieldDefinition], tenant: Tenant, at: str = "fields"
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Custom field values by code as their fields hold them, and a problem (``{"field":
    "fields.budget", "problem"}``) for each value that does not fit and each code the tenant lacks."""
    held: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for code, value in values.items():
        definition = fields.get(code)
        if definition is None:
            problems.append({"field": f"{at}.{code}", "problem": f"no custom field '{code}' in this tenant"})
            continue
        try:
            held[code] = field_value(definition, value, tenant)
        except BadFieldValue as exc:
            problems.append({"field": f"{at}.{code}", "problem": str(exc)})
    return held, problems
