"""Constants and variables of the tenant — ``/constants/{name}`` and ``/variables/{name}``, the same
routes for both: list, read, create or replace (typed: ``{"type": "number", "value": "0.23"}``),
delete. Everyone reads them; only administrators change them (``auth.ADMIN_RESOURCES``). Each
change bumps the tenant's automation version, so compiled automation is never stale about them."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from dealflow.api.context import CREATED_OR_REPLACED, Caller, DepsProvider, caller, known
from dealflow.api.definitions import VersionMessage, note_of
from dealflow.api.deps import Deps
from dealflow.api.errors import Invalid, NotFound
from dealflow.api.schemas import NamedValue, NamedValueList, ValueDeleted
from dealflow.api.warnings import broken_since
from dealflow.model import TypedValue
from dealflow.model.versions import VersionNote
from dealflow.store.tenant_settings import ValueKind

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SINGULAR: dict[ValueKind, str] = {"constants": "constant", "variables": "variable"}


def _checked_name(name: str) -> str:
    if not NAME.match(name):
        raise Invalid.field(
            "name",
            f"'{name}' is not a name: a lowercase letter, then up to 63 lowercase letters, digits or underscores",
        )
    return name


def save_value(d: Deps, who: Caller, kind: ValueKind, name: str, value: TypedValue, note: VersionNote) -> bool:
    """Store a constant or variable (a PUT; a constant's rollback): a user-typed value must name a
    user of the tenant. True when it is new."""
    if (
        value.type == "user"
        and value.value is not None
        and d.automation.get_tenant(who.tenant_id).user(str(value.value)) is None
    ):
        raise Invalid.field("value", f"no user '{value.value}' in this tenant")
    return d.automation.put_value(who.tenant_id, kind, name, value, note)


def _routes(r: Router, deps: DepsProvider, kind: ValueKind) -> None:
    one, tags = _SINGULAR[kind], [str(kind)]

    def values_of() -> dict[str, TypedValue]:
        return getattr(deps().automation.get_tenant(caller(r).tenant_id), kind)

    @r.get(f"/{kind}", summary=f"List the tenant's {kind}", tags=tags, operation_id=f"list_{kind}")
    def list_values() -> NamedValueList:
        return NamedValueList(items=[NamedValue.of(n, v) for n, v in sorted(values_of().items())])

    @r.get(f"/{kind}/<name>", summary=f"Get one {one}", tags=tags, operation_id=f"get_{one}")
    def get_value(name: str) -> NamedValue:
        found = values_of().get(_checked_name(name))
        if found is None:
            raise NotFound(one, name)
        return NamedValue.of(name, found)

    @r.put(
        f"/{kind}/<name>",
        summary=f"Create or replace a {one} (administrators)",
        tags=tags,
        operation_id=f"put_{one}",
        responses=CREATED_OR_REPLACED,
        description="A user-typed value must name a user of the tenant. 201 when it was created.",
    )
    def put_value(
        name: str, value: Annotated[TypedValue, Body()], message: VersionMessage = None
    ) -> Response[NamedValue]:
        d, who = deps(), caller(r)
        created = save_value(d, who, kind, _checked_name(name), value, note_of(who, message))
        return Response(201 if created else 200, content_types.APPLICATION_JSON, NamedValue.of(name, value))

    @r.delete(
        f"/{kind}/<name>",
        summary=f"Delete a {one} (administrators)",
        tags=tags,
        operation_id=f"delete_{one}",
        description="Answers the value it had and, in `broken_automation`, the automation that names it.",
    )
    def delete_value(name: str) -> ValueDeleted:
        d, who = deps(), caller(r)
        before = known(d, who)
        removed = d.automation.delete_value(who.tenant_id, kind, _checked_name(name))
        if removed is None:
            raise NotFound(one, name)
        return ValueDeleted(
            name=name, type=removed.type, value=removed.value, broken_automation=broken_since(before, known(d, who))
        )


def router(deps: DepsProvider) -> Router:
    r = Router()
    for kind in _SINGULAR:
        _routes(r, deps, kind)
    return r
