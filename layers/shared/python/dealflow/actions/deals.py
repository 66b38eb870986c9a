"""Changes to the deal itself: field values (literal or computed) and stage moves."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from dealflow import templates
from dealflow.actions.context import ActionContext, ActionError
from dealflow.model import Deal, FieldDefinition, FieldKind, MoveToStage, UpdateFields

_STANDARD_WRITABLE = {"title": str, "amount": Decimal, "currency": str, "responsible_id": str, "company": str}
_CENTS = Decimal("0.01")


def _as_decimal(name: str, value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ActionError(f"field '{name}': {value!r} is not a number") from exc


def coerce(name: str, value: Any, definition: FieldDefinition | None) -> Any:
    """A value in the type its field holds; None clears the field."""
    if value is None:
        return None
    if definition is None:
        kind = _STANDARD_WRITABLE.get(name)
        if kind is None:
            raise ActionError(f"field '{name}' is not a deal field this tenant defines")
        return _as_decimal(name, value).quantize(_CENTS) if kind is Decimal else str(value)
    match definition.kind:
        case FieldKind.NUMBER:
            return _as_decimal(name, value)
        case FieldKind.CHECKBOX:
            return value if isinstance(value, bool) else str(value).strip().lower() in {"true", "1", "yes", "y"}
        case FieldKind.DATE:
            try:
                return date.fromisoformat(str(value)[:10]).isoformat()
            except ValueError as exc:
                raise ActionError(f"field '{name}': {value!r} is not a date (YYYY-MM-DD)") from exc
        case FieldKind.LIST:
            if str(value) not in definition.options:
                raise ActionError(f"field '{name}': {value!r} is not one of {definition.options}")
            return str(value)
        case _:
            return str(value)


def update_fields(action: UpdateFields, ctx: ActionContext) -> dict[str, Any]:
    variables = ctx.template_variables()
    values: dict[str, Any] = {}
    for name, spec in action.values.items():
        raw = templates.evaluate(spec.expression, variables) if spec.expression is not None else spec.value
        values[name] = coerce(name, raw, ctx.fields.get(name))
    if "responsible_id" in values and ctx.tenant.user(values["responsible_id"]) is None:
        raise ActionError(f"field 'responsible_id': unknown user '{values['responsible_id']}'")

    def change(deal: Deal) -> Deal:
        standard = {k: v for k, v in values.items() if k in _STANDARD_WRITABLE}
        custom = {k: v for k, v in values.items() if k not in _STANDARD_WRITABLE}
        return deal.model_copy(update={**standard, "fields": {**deal.fields, **custom}})

    deal, applied = ctx.services.deals.apply(ctx.tenant.id, ctx.deal.id, change, ctx.causation, ctx.effect_key)
    ctx.deal = deal
    return {"values": {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()},
            "duplicate": not applied}


def move_to_stage(action: MoveToStage, ctx: ActionContext) -> dict[str, Any]:
    if ctx.pipeline is None or ctx.pipeline.stage(action.stage_id) is None:
        raise ActionError(f"stage '{action.stage_id}' is not in the deal's pipeline '{ctx.deal.pipeline_id}'")

    def change(deal: Deal) -> Deal:
        return deal.model_copy(update={"stage_id": action.stage_id})

    deal, applied = ctx.services.deals.apply(ctx.tenant.id, ctx.deal.id, change, ctx.causation, ctx.effect_key)
    from_stage = ctx.deal.stage_id
    ctx.deal = deal
    return {"from_stage_id": from_stage, "stage_id": action.stage_id, "duplicate": not applied}
