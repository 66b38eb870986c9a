"""Custom fields: list, create or replace, delete (administrators). Automation using a deleted
field, or comparing it in a way its new kind does not allow, is flagged and listed in the
response's ``broken_automation``."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.context import CREATED_OR_REPLACED, DepsProvider, caller, known, same_id
from dealflow.api.definitions import VERSION_RULE, VersionMessage, note_of, write_versioned, written
from dealflow.api.errors import NotFound
from dealflow.api.schemas import DefinitionDeleted, FieldList, FieldWritten
from dealflow.api.warnings import broken_since
from dealflow.model import FieldDefinition


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get("/fields", summary="List custom fields", tags=["fields"])
    def list_fields() -> FieldList:
        found = known(deps(), caller(r)).fields
        return FieldList(items=sorted(found.values(), key=lambda f: f.code))

    @r.put(
        "/fields/<code>",
        summary="Create (201) or replace (200) a custom field (administrators)",
        tags=["fields"],
        description=VERSION_RULE,
        responses=CREATED_OR_REPLACED,
    )
    def put_field(code: str, definition: FieldDefinition, message: VersionMessage = None) -> Response[FieldWritten]:
        same_id(code, definition.code, "code")
        d, who = deps(), caller(r)
        before = known(d, who)
        current = before.fields.get(code)
        stored = write_versioned(d, who.tenant_id, f"field '{code}'", current, definition, note_of(who, message))
        return written(before, known(d, who), stored, FieldWritten, created=current is None)

    @r.delete(
        "/fields/<code>",
        summary="Delete a custom field (administrators)",
        tags=["fields"],
        description="Automation using it is flagged and listed in `broken_automation`.",
    )
    def delete_field(code: str) -> DefinitionDeleted:
        d, who = deps(), caller(r)
        before = known(d, who)
        current = before.fields.get(code)
        if current is None:
            raise NotFound("field", code)
        d.automation.delete_definition(who.tenant_id, current)
        return DefinitionDeleted(deleted=code, broken_automation=broken_since(before, known(d, who)))

    return r
