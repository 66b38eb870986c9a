"""Automation as code: a tenant's pipelines, custom fields, automation and constants as one document
(``dealflow/v1``), and that document imported back — validated as a whole, compared with what is
stored, and applied so that afterwards the tenant has exactly the document's definitions.

The document leaves out storage bookkeeping (versions, tenant ids) and lists everything in a fixed
order, so export → import → export gives the same document, in the same tenant or another one that
has the same users. Numbers are plain numbers: integers, or decimals written digit for digit
(``document_text`` turns the document into JSON or YAML text and back without rounding them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from dealflow.authoring.checks import AUTOMATION, check_automation
from dealflow.authoring.moves import Changes
from dealflow.engine import field_steps
from dealflow.engine.compiled import AutomationIndex, TenantAutomation
from dealflow.http_errors import Invalid, problems_from
from dealflow.model import FieldDefinition, Pipeline
from dealflow.model.base import Model
from dealflow.model.calendar import Calendar
from dealflow.model.catalog import Automation
from dealflow.model.tenant import TypedValue, TypedValues
from dealflow.model.workflow import FieldStepWorkflow
from dealflow.policy.plans import field_step_workflow_counts

FORMAT: Literal["dealflow/v1"] = "dealflow/v1"
# What an import does to one definition or constant.
ImportAction = Literal["create", "update", "delete", "unchanged"]
_CONSTANTS = TypeAdapter(TypedValues)


class Document(Model):
    """The export document: what a tenant's automation is made of."""

    format: Literal["dealflow/v1"] = FORMAT
    pipelines: list[Pipeline] = Field(default_factory=list)
    fields: list[FieldDefinition] = Field(default_factory=list)
    automation: list[Automation] = Field(default_factory=list)
    field_step_workflows: list[FieldStepWorkflow] = Field(default_factory=list)
    constants: TypedValues
    calendar: Calendar | None = None  # the tenant's working calendar; absent: none


class _Shape(Model):
    """The document's outline, so each item can be checked on its own and named by its id."""

    format: Literal["dealflow/v1"]
    pipelines: list[dict[str, Any]] = Field(default_factory=list)
    fields: list[dict[str, Any]] = Field(default_factory=list)
    automation: list[dict[str, Any]] = Field(default_factory=list)
    field_step_workflows: list[dict[str, Any]] = Field(default_factory=list)
    constants: dict[str, Any] = Field(default_factory=dict)
    calendar: dict[str, Any] | None = None


class Change(Model):
    kind: str = Field(description="pipeline, field, constant, calendar, or the automation's kind")
    id: str
    change: ImportAction


class ImportResult(Model):
    dry_run: bool
    changes: list[Change]


def _plain(value: Any) -> Any:
    """A dumped model as the document holds it: numbers as numbers (never as text), whole ones as
    integers, the others as exact decimals."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, Enum):
        return value.value
    return value


def _dump(model: BaseModel) -> dict[str, Any]:
    return _plain(model.model_dump(mode="python", by_alias=True, exclude_none=True, exclude={"version"}))


def _constants(values: dict[str, TypedValue]) -> dict[str, Any]:
    return {name: _dump(values[name]) for name in sorted(values)}


def export_document(known: TenantAutomation) -> dict[str, Any]:
    """The tenant's automation as a plain document, in a fixed order."""
    return {
        "format": FORMAT,
        "pipelines": [_dump(known.pipelines[k]) for k in sorted(known.pipelines)],
        "fields": [_dump(known.fields[k]) for k in sorted(known.fields)],
        "automation": [_dump(a) for a in sorted(known.by_id.values(), key=lambda a: (a.id, a.kind))],
        "field_step_workflows": [_dump(known.workflows[k]) for k in sorted(known.workflows)],
        "constants": _constants(known.tenant.constants),
        # Only when set: a tenant without one exports the document it did before calendars.
        **({"calendar": _dump(known.tenant.calendar)} if known.tenant.calendar is not None else {}),
    }


def _name(section: str, index: int, item: dict[str, Any], key: str = "id") -> str:
    named = item.get(key)
    return f"{section}.{named}" if isinstance(named, str) and named else f"{section}.{index}"


def _items(section: str, raw: list[dict[str, Any]], parse: Any, key: str, problems: list[dict[str, str]]) -> list[Any]:
    parsed = []
    for i, item in enumerate(raw):
        try:
            parsed.append(parse(item))
        except ValidationError as exc:
            problems += problems_from(exc, _name(section, i, item, key))
    for named, count in Counter(item.get(key) for item in raw).items():
        if count > 1 and isinstance(named, str):
            problems.append({"field": f"{section}.{named}.{key}", "problem": f"'{named}' is listed {count} times"})
    return parsed


def validate_document(body: Any, known: TenantAutomation) -> Document:
    """The document as a whole, or Invalid naming ``<section>.<id or index>.<field>`` for every
    problem: its references must resolve within the document itself (its pipelines, fields and
    constants) and the tenant's users; a stored pipeline keeps its entity."""
    try:
        shape = _Shape.model_validate(body)
    except ValidationError as exc:
        raise Invalid(problems_from(exc)) from None
    problems: list[dict[str, str]] = []
    pipelines: list[Pipeline] = _items("pipelines", shape.pipelines, Pipeline.model_validate, "id", problems)
    fields: list[FieldDefinition] = _items("fields", shape.fields, FieldDefinition.model_validate, "code", problems)
    automation: list[Automation] = _items("automation", shape.automation, AUTOMATION.validate_python, "id", problems)
    workflows: list[FieldStepWorkflow] = _items(
        "field_step_workflows", shape.field_step_workflows, FieldStepWorkflow.model_validate, "id", problems
    )
    try:
        constants = _CONSTANTS.validate_python(shape.constants)
    except ValidationError as exc:
        problems += problems_from(exc, "constants")
        constants = {}
    for name, typed in constants.items():
        if typed.type == "user" and typed.value is not None and known.tenant.user(str(typed.value)) is None:
            problems.append({"field": f"constants.{name}.value", "problem": f"no user '{typed.value}' in this tenant"})
    calendar: Calendar | None = None
    if shape.calendar is not None:
        try:
            calendar = Calendar.model_validate(shape.calendar)
        except ValidationError as exc:
            problems += problems_from(exc, "calendar")
    for pipeline in pipelines:
        stored = known.pipelines.get(pipeline.id)
        if stored is not None and stored.entity != pipeline.entity:
            problems.append(
                {
                    "field": f"pipelines.{pipeline.id}.entity",
                    "problem": f"pipeline '{pipeline.id}' holds {stored.entity}s; it cannot change",
                }
            )
    as_if = TenantAutomation(
        tenant=known.tenant.model_copy(update={"constants": constants, "calendar": calendar}),
        pipelines={p.id: p for p in pipelines},
        fields={f.code: f for f in fields},
        index=AutomationIndex([]),
        version=known.version,
        workflows={w.id: w for w in workflows},
    )
    for item in automation:
        try:
            check_automation(item, as_if)
        except Invalid as exc:
            problems += problems_from(exc, f"automation.{item.id}")
    problems += _workflow_problems(workflows, as_if, known)
    if problems:
        raise Invalid(problems)
    return Document(
        pipelines=pipelines,
        fields=fields,
        automation=automation,
        field_step_workflows=workflows,
        constants=constants,
        calendar=calendar,
    )


def _workflow_problems(
    workflows: list[FieldStepWorkflow], as_if: TenantAutomation, known: TenantAutomation
) -> list[dict[str, str]]:
    """Field–step workflows of a document: what they name exists in it, each field and step serves
    one workflow, and no more are switched on than the plan allows (unless no more than now)."""
    problems = []
    for workflow in workflows:
        at = f"field_step_workflows.{workflow.id}"
        problems += [{**p, "field": f"{at}.{p['field']}"} for p in field_steps.reference_problems(workflow, as_if)]
        held = field_steps.used_by(workflow, as_if)
        if held is not None:
            problems.append(
                {
                    "field": f"{at}.field_code",
                    "problem": f"{held[0]} is used by field–step workflow '{held[1].id}' as well",
                }
            )
    on, cap = field_step_workflow_counts(as_if), field_step_workflow_counts(known)
    if on["active"] > on["limit"] and on["active"] > cap["active"]:
        problems.append(
            {
                "field": "field_step_workflows",
                "problem": f"{on['active']} are switched on; the "
                f"{known.tenant.plan} plan allows {on['limit']} (plan_limit)",
            }
        )
    return problems


def _action(before: Any, after: Any) -> ImportAction:
    """What turns ``before`` into ``after`` (either None when absent)."""
    if before is None:
        return "create"
    if after is None:
        return "delete"
    return "unchanged" if before == after else "update"


def _compare(key_of: Any, stored: Iterable[Any], wanted: list[Any], changes: Changes, listing: list[Change]) -> None:
    """Adds to ``changes`` what turns ``stored`` into ``wanted`` (matched by ``key_of``: kind, key),
    each written one version above the stored one."""
    before, after = {key_of(m): m for m in stored}, {key_of(m): m for m in wanted}
    for key in sorted(before.keys() | after.keys()):
        old: Any = before.get(key)
        new: Any = after.get(key)
        action = _action(old and _dump(old), new and _dump(new))
        if action == "create":
            changes.created.append(new.model_copy(update={"version": 1}))
        elif action == "delete":
            changes.deleted.append((old, old.version))
        elif action == "update":
            changes.replaced.append((new.model_copy(update={"version": old.version + 1}), old.version))
        listing.append(Change(kind=key[0], id=key[1], change=action))


def import_changes(document: Document, known: TenantAutomation) -> tuple[Changes, list[Change], bool]:
    """What to write so the tenant has exactly the document's definitions: the changes (pipelines
    and fields written before the automation naming them, automation deleted before what it
    named), the listing of every definition and constant, and whether the constants change."""
    definitions, automation, listing = Changes(), Changes(), list[Change]()
    _compare(lambda p: ("pipeline", p.id), known.pipelines.values(), document.pipelines, definitions, listing)
    _compare(lambda f: ("field", f.code), known.fields.values(), document.fields, definitions, listing)
    _compare(lambda a: (a.kind, a.id), known.by_id.values(), document.automation, automation, listing)
    workflows = known.workflows.values()
    _compare(lambda w: ("field_step_workflow", w.id), workflows, document.field_step_workflows, automation, listing)
    changes = Changes(
        created=[*definitions.created, *automation.created],
        replaced=[*definitions.replaced, *automation.replaced],
        deleted=[*automation.deleted, *definitions.deleted],
    )
    stored, wanted = _constants(known.tenant.constants), _constants(document.constants)
    for name in sorted(stored.keys() | wanted.keys()):
        listing.append(Change(kind="constant", id=name, change=_action(stored.get(name), wanted.get(name))))
    had, has = known.tenant.calendar, document.calendar
    if had is not None or has is not None:
        listing.append(Change(kind="calendar", id="calendar", change=_action(had, has)))
    return changes, listing, stored != wanted
