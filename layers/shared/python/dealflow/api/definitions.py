"""What versioned PUTs share (automation, pipelines, fields, field–step workflows): the version
check and the list of automation a change broke.

``version`` is the version the caller read; left out, it is 1 — right for a new item, a 409 for
one written since (the 409 says which version to send). A new item is stored at its given
version, a replaced one one higher. A PUT of exactly what is stored (``version`` aside) changes
nothing and answers 200 with the stored item, so repeating a request is harmless."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import BaseModel

from dealflow.api.auth import Caller
from dealflow.api.deps import Deps
from dealflow.api.errors import Conflict
from dealflow.api.warnings import broken_since
from dealflow.engine.compiled import TenantAutomation
from dealflow.model import FieldDefinition, Pipeline
from dealflow.model.catalog import Definition
from dealflow.model.versions import MAX_MESSAGE, VersionNote

VERSION_RULE = (
    "`version` is the version read; left out, it is 1 (right for a new one). A write since then is a 409 "
    "naming the version to send. Sending exactly what is stored changes nothing (200). Every save is kept "
    "as an immutable version (`…/versions`) with its author, time and the `X-Version-Message` header's text."
)
MESSAGE_HEADER = "X-Version-Message"
# Why a save was made, kept with the version it makes (a header: every versioned PUT takes it alike).
VersionMessage = Annotated[
    str | None,
    Header(alias=MESSAGE_HEADER, max_length=MAX_MESSAGE, description="Why: kept with the version this save makes"),
]


def note_of(who: Caller, message: str | None) -> VersionNote:
    """The note a save by ``who`` keeps with its version (the time is stamped when it is stored)."""
    # Percent-encoded UTF-8 is read back: a header carries latin-1 only, and `dealflow apply -m` sends
    # any message that way.
    return VersionNote(saved_by=who.user_id, message=unquote(message) if message else None)


def unchanged(current: BaseModel | None, new: BaseModel) -> bool:
    """Whether a PUT sends what is already stored, its version aside."""
    return current is not None and current.model_dump(exclude={"version"}) == new.model_dump(exclude={"version"})


def check_version(what: str, current: BaseModel | None, sent: int) -> None:
    """409 when ``current`` is at another version than the one the caller sent, saying what to send."""
    at = getattr(current, "version", None)
    if at is not None and at != sent:
        raise Conflict(
            f'{what} is at version {at}, not {sent}; send "version": {at} to overwrite it, or GET it first',
            current_version=at,
        )


def write_versioned(
    d: Deps,
    tenant_id: str,
    what: str,
    current: Pipeline | FieldDefinition | None,
    new: Pipeline | FieldDefinition,
    note: VersionNote | None = None,
) -> Pipeline | FieldDefinition:
    """Store ``new`` over ``current`` (None: create); the stored model comes back."""
    if current is not None and unchanged(current, new):
        return current
    check_version(what, current, new.version)
    stored = new.model_copy(update={"version": new.version + 1}) if current else new
    d.automation.put_definition(tenant_id, stored, current.version if current else None, note=note)
    return stored


def written(
    before: TenantAutomation, after: TenantAutomation, stored: Definition, answer: type[Any], created: bool
) -> Response:
    """201 for a new definition, 200 for a replaced one; the body is ``answer`` (the definition
    plus the automation the change broke)."""
    body = answer.model_validate({**stored.model_dump(), "broken_automation": broken_since(before, after)})
    return Response(status_code=201 if created else 200, content_type=content_types.APPLICATION_JSON, body=body)
