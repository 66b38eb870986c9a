"""Custom fields: list, create or replace (administrators)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.context import DepsProvider, caller, known, same_id
from dealflow.api.schemas import FieldList
from dealflow.model import FieldDefinition


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get("/fields", summary="List custom fields", tags=["fields"])
    def list_fields() -> FieldList:
        found = known(deps(), caller(r)).fields
        return FieldList(items=sorted(found.values(), key=lambda f: f.code))

    @r.put("/fields/<code>", summary="Create or replace a custom field (administrators)", tags=["fields"])
    def put_field(code: str, definition: FieldDefinition) -> FieldDefinition:
        same_id(code, definition.code, "code")
        d, who = deps(), caller(r)
        known(d, who)  # the tenant exists
        d.automation.put_definition(who.tenant_id, definition)
        return definition

    return r
