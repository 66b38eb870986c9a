"""Column-level rights applied: who may read and write which deals, leads and fields; the view of
an item a person may see; and which deal fields an automation reads, so a rule needing a field its
author cannot read is refused instead of silently rendering blanks.

A refusal always names the field (and, for automation, where it is used): a hidden amount must
never look like a missing one."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from dealflow.engine.references import references_of
from dealflow.engine.writes import writes_of
from dealflow.http_errors import Forbidden
from dealflow.language.templates import ALL_CUSTOM_FIELDS, WHOLE_DEAL
from dealflow.model import STANDARD_FIELDS, BusinessProcess, Deal, Lead, Pipeline, Role, Tenant
from dealflow.model.access import RESTRICTABLE_FIELDS, AccessLevel, DealView, EntityRights, LeadView, RoleRights
from dealflow.model.catalog import Automation


class AccessDenied(Forbidden):
    """403 naming the field (and where an automation uses it) the caller's role may not touch."""

    def __init__(self, reason: str, *, field: str | None = None, at: str | None = None) -> None:
        details = {k: v for k, v in (("field", field), ("at", at)) if v is not None}
        super().__init__(reason, **details)


def rights_of(tenant: Tenant, role: Role) -> RoleRights:
    return tenant.rights.get(role) or RoleRights()


@dataclass(frozen=True)
class Access:
    """One role's rights on one entity of a tenant, knowing the tenant's custom field codes."""

    role: Role
    entity: str
    rights: EntityRights
    custom_fields: frozenset[str]

    @classmethod
    def of(cls, tenant: Tenant, custom_fields: Iterable[str], role: Role, entity: str) -> Access:
        return cls(role, entity, rights_of(tenant, role).of(entity), frozenset(custom_fields))

    def level(self, field: str) -> AccessLevel:
        return self.rights.level(field)

    def readable(self, field: str) -> bool:
        return self.level(field) != "hidden"

    @property
    def hidden_fields(self) -> list[str]:
        """Every field this role may not read, standard names and custom codes, sorted."""
        known = {*RESTRICTABLE_FIELDS, *self.custom_fields, *self.rights.fields}
        return sorted(f for f in known if not self.readable(f))

    def require_read(self) -> None:
        if not self.rights.read:
            raise AccessDenied(f"your role ({self.role.value}) may not read {self.entity}s")

    def require_write(self, fields: Iterable[str]) -> None:
        """Refuse the write unless the role may write the entity and every field in ``fields``."""
        if not self.rights.write:
            raise AccessDenied(f"your role ({self.role.value}) may not change {self.entity}s")
        for field in sorted(set(fields)):
            level = self.level(field)
            if level != "write":
                raise AccessDenied(
                    f"your role ({self.role.value}) may not change the {self.entity} field "
                    f"'{field}' (it is {'read-only' if level == 'read' else 'hidden'} for you)",
                    field=field,
                )

    def view(self, item: Deal) -> Any:
        """``item`` without the fields this role may not read, which are named in ``hidden_fields``."""
        hidden = self.hidden_fields
        data = item.model_dump(exclude=set(hidden) & set(RESTRICTABLE_FIELDS))
        data["fields"] = {code: value for code, value in item.fields.items() if code not in hidden}
        view = LeadView if isinstance(item, Lead) else DealView
        return view.model_validate({**data, "hidden_fields": hidden})

    def effective(self) -> EntityRights:
        """These rights with every known field's level spelled out."""
        known = sorted({*RESTRICTABLE_FIELDS, *self.custom_fields, *self.rights.fields})
        return EntityRights(read=self.rights.read, write=self.rights.write, fields={f: self.level(f) for f in known})


def fields_set(body: BaseModel) -> set[str]:
    """The fields a create or update body writes: standard ones it names (null too) and every custom
    field code in ``fields`` (null removes a value, which is a write as well)."""
    return {n for n in body.model_fields_set if n in RESTRICTABLE_FIELDS} | set(getattr(body, "fields", None) or {})


def unknown_fields(rights: RoleRights, custom_fields: Collection[str]) -> list[dict[str, str]]:
    """Problems (field, problem) with the field codes ``rights`` names."""
    problems = []
    for entity in ("deal", "lead"):
        for code in rights.of(entity).fields:
            if code in RESTRICTABLE_FIELDS or code in custom_fields:
                continue
            problem = (
                f"'{code}' is kept by the engine and cannot be restricted"
                if code in STANDARD_FIELDS
                else f"no field '{code}' (neither a standard deal field nor a custom field of this tenant)"
            )
            problems.append({"field": f"{entity}s.fields.{code}", "problem": problem})
    return problems


@dataclass(frozen=True)
class FieldUse:
    field: str  # a standard name, a custom code, WHOLE_DEAL or ALL_CUSTOM_FIELDS
    at: str  # where in the automation, as its author wrote it: "actions.0.subject"


def fields_read(automation: Automation) -> Iterator[FieldUse]:
    """Every deal field ``automation`` reads or writes: conditions, delays relative to a date field,
    the fields update_fields sets, message texts and expressions."""
    for ref in references_of(automation):
        if ref.kind == "field":
            yield FieldUse(ref.name, ref.at)


def automation_entity(automation: Automation, pipelines: Mapping[str, Pipeline]) -> str | None:
    """Which entity an automation works on: a process names it, the others follow their pipeline
    (None when that pipeline does not exist)."""
    if isinstance(automation, BusinessProcess):
        return automation.entity
    pipeline = pipelines.get(automation.pipeline_id)
    return pipeline.entity if pipeline else None


def hidden_use(automation: Automation, access: Access, *, reads_only: bool = False) -> tuple[str, FieldUse] | None:
    """The first field ``automation`` reads (or writes, unless ``reads_only``) that ``access`` hides:
    the field, and the use naming it (the deal as a whole, or all its custom fields, stand for every
    field they include)."""
    hidden = access.hidden_fields
    hidden_custom = [f for f in hidden if f not in RESTRICTABLE_FIELDS]
    written = {w.at for w in writes_of(automation)} if reads_only else set()
    for use in fields_read(automation):
        if use.at in written:
            continue
        if use.field == WHOLE_DEAL:
            blocked = hidden[0] if hidden else None
        elif use.field == ALL_CUSTOM_FIELDS:
            blocked = hidden_custom[0] if hidden_custom else None
        else:
            blocked = use.field if not access.readable(use.field) else None
        if blocked is not None:
            return blocked, use
    return None


def check_author(automation: Automation, access: Access) -> None:
    """Refuse automation that reads a field its author's role may not read: run by the engine, it
    would show or use a value the author could not see."""
    found = hidden_use(automation, access)
    if found is not None:
        blocked, use = found
        raise AccessDenied(
            f"{use.at} uses the {access.entity} field '{blocked}', which your role ({access.role.value}) may not read",
            field=blocked,
            at=use.at,
        )
