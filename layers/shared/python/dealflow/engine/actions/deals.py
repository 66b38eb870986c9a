"""Changes to the deal itself: field values (literal or computed) and stage moves."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dealflow.engine.actions.context import ActionContext, ActionError
from dealflow.engine.field_values import BadFieldValue, as_number, field_value
from dealflow.language import templates
from dealflow.language.money import round_money
from dealflow.model import CopyToPipeline, Deal, FieldDefinition, MoveToPipeline, MoveToStage, Tenant, UpdateFields
from dealflow.ports import record_id

_STANDARD_WRITABLE = {"title": str, "amount": Decimal, "currency": str, "responsible_id": str, "company": str}


def coerce(name: str, value: Any, definition: FieldDefinition | None, tenant: Tenant) -> Any:
    """A value in the type its field holds (a custom field's checked by its kind, as every write
    path checks it); None clears the field."""
    if value is None:
        return None
    kind = _STANDARD_WRITABLE.get(name)
    if definition is None and kind is None:
        raise ActionError(f"field '{name}' is not a deal field this tenant defines")
    try:
        if definition is not None:
            return field_value(definition, value, tenant)
        return round_money(as_number(value)) if kind is Decimal else str(value)
    except BadFieldValue as exc:
        raise ActionError(f"field '{name}': {exc}") from None


def with_values(deal: Deal, values: dict[str, Any]) -> Deal:
    """``deal`` with ``values`` (coerced) set: standard fields by name, the rest as custom fields."""
    standard = {k: v for k, v in values.items() if k in _STANDARD_WRITABLE}
    custom = {k: v for k, v in values.items() if k not in _STANDARD_WRITABLE}
    return deal.model_copy(update={**standard, "fields": {**deal.fields, **custom}})


def update_fields(action: UpdateFields, ctx: ActionContext) -> dict[str, Any]:
    variables = ctx.template_variables()
    values: dict[str, Any] = {}
    for name, spec in action.values.items():
        raw = templates.evaluate(spec.expression, variables) if spec.expression is not None else spec.value
        values[name] = coerce(name, raw, ctx.fields.get(name), ctx.tenant)
    if values.get("responsible_id") is not None and ctx.tenant.user(values["responsible_id"]) is None:
        raise ActionError(f"field 'responsible_id': unknown user '{values['responsible_id']}'")

    applied = _write(ctx, lambda deal: with_values(deal, values))
    return {"values": {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}, "duplicate": not applied}


def _write(ctx: ActionContext, change: Callable[[Deal], Deal], key: str | None = None) -> bool:
    deal, applied = ctx.services.deals.apply(ctx.tenant.id, ctx.deal.id, change, ctx.causation, key or ctx.effect_key)
    ctx.deal = deal
    return applied


def _target_stage(ctx: ActionContext, pipeline_id: str, stage_id: str) -> None:
    pipeline = ctx.pipelines.get(pipeline_id)
    if pipeline is None:
        raise ActionError(f"pipeline '{pipeline_id}' does not exist")
    if pipeline.stage(stage_id) is None:
        raise ActionError(f"stage '{stage_id}' is not in pipeline '{pipeline_id}'")
    if pipeline.entity != ctx.deal.entity:
        raise ActionError(f"pipeline '{pipeline_id}' holds {pipeline.entity}s, not {ctx.deal.entity}s")


def move_to_stage(action: MoveToStage, ctx: ActionContext) -> dict[str, Any]:
    _target_stage(ctx, ctx.deal.pipeline_id, action.stage_id)
    from_stage = ctx.deal.stage_id
    pipeline = ctx.pipelines[ctx.deal.pipeline_id]
    if action.forward_only and pipeline.position(from_stage) >= pipeline.position(action.stage_id):
        # A trigger never drags a deal back, nor "moves" it to where it already is.
        return {
            "from_stage_id": from_stage,
            "stage_id": from_stage,
            "moved": False,
            "reason": f"already at or past stage '{action.stage_id}'",
        }
    applied = _write(ctx, lambda deal: deal.model_copy(update={"stage_id": action.stage_id}))
    return {"from_stage_id": from_stage, "stage_id": action.stage_id, "moved": True, "duplicate": not applied}


def move_to_pipeline(action: MoveToPipeline, ctx: ActionContext) -> dict[str, Any]:
    _target_stage(ctx, action.pipeline_id, action.stage_id)
    before = {"from_pipeline_id": ctx.deal.pipeline_id, "from_stage_id": ctx.deal.stage_id}
    applied = _write(
        ctx, lambda deal: deal.model_copy(update={"pipeline_id": action.pipeline_id, "stage_id": action.stage_id})
    )
    return {**before, "pipeline_id": action.pipeline_id, "stage_id": action.stage_id, "duplicate": not applied}


def copy_to_pipeline(action: CopyToPipeline, ctx: ActionContext) -> dict[str, Any]:
    """The copy's id comes from the effect key: a retried step or a redelivered entry finds the
    copy it made before instead of making another."""
    _target_stage(ctx, action.pipeline_id, action.stage_id)
    original = ctx.deal
    copy_id = f"{original.id[:40]}-copy-{record_id(ctx.effect_key)[:12]}"
    copy = original.model_copy(
        update={
            "id": copy_id,
            "pipeline_id": action.pipeline_id,
            "stage_id": action.stage_id,
            "version": 1,
            "created_at": None,
            "caused_by": ctx.causation,
            "copied_from_id": original.id,
            "copy_ids": [],
        }
    )
    created = ctx.services.deals.create_if_absent(copy)
    _write(
        ctx,
        lambda deal: (
            deal if copy_id in deal.copy_ids else deal.model_copy(update={"copy_ids": [*deal.copy_ids, copy_id]})
        ),
        key=f"{ctx.effect_key}:link",
    )
    return {
        "copy_id": copy_id,
        "pipeline_id": action.pipeline_id,
        "stage_id": action.stage_id,
        "duplicate": not created,
    }
