"""What pipeline and field writes share: the version check and the list of automation a change
broke. A stale ``version`` is a 409; a new definition starts at its given version, a replaced one
is stored one higher — the same rules as automation."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from dealflow.api.deps import Deps
from dealflow.api.errors import Conflict
from dealflow.api.warnings import broken_since
from dealflow.engine.compiled import TenantAutomation
from dealflow.model import FieldDefinition, Pipeline
from dealflow.model.catalog import Definition


def write_versioned(
    d: Deps, tenant_id: str, what: str, current: Pipeline | FieldDefinition | None, new: Pipeline | FieldDefinition
) -> Pipeline | FieldDefinition:
    """Store ``new`` over ``current`` (None: create); the stored model comes back."""
    if current is not None and current.version != new.version:
        raise Conflict(
            f"{what} is at version {current.version}, not {new.version}: read it again", current_version=current.version
        )
    stored = new.model_copy(update={"version": new.version + 1}) if current else new
    d.automation.put_definition(tenant_id, stored, current.version if current else None)
    return stored


def written(
    before: TenantAutomation, after: TenantAutomation, stored: Definition, answer: type[Any], created: bool
) -> Response:
    """201 for a new definition, 200 for a replaced one; the body is ``answer`` (the definition
    plus the automation the change broke)."""
    body = answer.model_validate({**stored.model_dump(), "broken_automation": broken_since(before, after)})
    return Response(status_code=201 if created else 200, content_type=content_types.APPLICATION_JSON, body=body)
