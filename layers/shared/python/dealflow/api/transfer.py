"""Automation as code: GET /export gives the tenant's pipelines, fields, automation and constants
as one document (JSON, or YAML with ``?format=yaml``); POST /import makes the tenant's definitions
exactly a document's, after checking it as a whole (``?dry_run=true`` only lists the changes).
Administrators only, reading included."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from dealflow.api.bodies import YAML_TYPES
from dealflow.api.cancellations import cancel_waiting
from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.definitions import VersionMessage, note_of
from dealflow.api.errors import Invalid, MalformedJson, MalformedYaml
from dealflow.api.export_pages import export_page
from dealflow.authoring.document_text import from_json, from_yaml, to_json, to_yaml
from dealflow.authoring.moves import Changes, write_changes
from dealflow.authoring.transfer import Document, ImportResult, export_document, import_changes, validate_document
from dealflow.engine.compiled import TenantAutomation
from dealflow.model.catalog import AUTOMATION_MODELS
from dealflow.ports import MAX_WRITES


def _document_body(body: str, content_type: str) -> Any:
    if content_type.split(";")[0].strip().lower() in YAML_TYPES:
        try:
            parsed = from_yaml(body)
        except yaml.YAMLError as exc:
            raise MalformedYaml(f"the body is not valid YAML: {exc}") from None
    else:
        try:
            parsed = from_json(body)
        except ValueError as exc:
            raise MalformedJson(f"the body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise Invalid.field("body", f"expected a document (an object), got {type(parsed).__name__}")
    return parsed


class ExportPage(Document):
    """The export document, or one page of it (``next_token`` on every page but the last)."""

    next_token: str | None = Field(default=None, description="Pass as `next_token` for the next page")


def _stopped(changes: Changes, tenant: TenantAutomation) -> list[tuple[str, str]]:
    """Automation that was on and is now deleted or switched off: (id, what happened)."""
    stopped = [(m.id, "deleted") for m, _ in changes.deleted if isinstance(m, AUTOMATION_MODELS)]
    stopped += [
        (m.id, "switched off") for m, _ in changes.replaced if isinstance(m, AUTOMATION_MODELS) and not m.enabled
    ]
    return [(i, how) for i, how in stopped if i in tenant.by_id and tenant.by_id[i].enabled]


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/export",
        tags=["transfer"],
        summary="The tenant's automation as one document (administrators)",
        description="Pipelines, custom fields, automation of every kind, constants and the working calendar, "
        "without versions or tenant ids, in a fixed order: importing it changes nothing. A document larger than one "
        "response (Lambda answers with at most 6 MB) comes in pages of whole automation items, each "
        "but the last with `next_token`: the first page holds every other section, later pages only "
        "`automation`; concatenate the pages' lists to get the document. A change to the automation "
        "between pages is a 409: export again from the first page. Decimals are written digit for "
        "digit (`0.12345678901234567890`, never rounded to a float), and an import reads them back exactly.",
        responses={
            200: {
                "description": "The document, or its page (`?format=yaml`: as application/yaml)",
                "content": {"application/json": {"model": ExportPage}},
            },
            409: {"description": "The automation changed since the first page"},
        },
    )
    def export(
        format: Annotated[Literal["json", "yaml"], Query(description="json (default) or yaml")] = "json",
        next_token: Annotated[str | None, Query(max_length=1000, description="From the previous page")] = None,
    ) -> Response[Any]:  # Any: the document as JSON or as YAML text (its schema is in `responses`)
        who, d = caller(r), deps()
        tenant = known(d, who)
        render = to_yaml if format == "yaml" else to_json
        page = export_page(
            export_document(tenant),
            tenant_id=who.tenant_id,
            version=tenant.version,
            format=format,
            render=render,
            keys=d.page_keys,
            token=next_token,
        )
        if format == "yaml":
            return Response(status_code=200, content_type="application/yaml", body=render(page))
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=to_json(page))

    @r.post(
        "/import",
        tags=["transfer"],
        summary="Replace the tenant's automation with a document (administrators)",
        description="The body is an export document: JSON, or YAML with content-type application/yaml or "
        "text/yaml. It is checked as a whole first (references resolve within the document and "
        "the tenant's users; problems name `<section>.<id or index>.<field>`); then the tenant "
        "gets exactly its definitions: missing ones are deleted (their waiting runs cancelled). "
        "All changes are written in one transaction, so an import is applied whole or not at all "
        f"(a concurrent change is a 409): more than {MAX_WRITES} changed definitions, or more than "
        "DynamoDB's 4 MB in all, is a 413 `payload_too_large` naming the `limit`, nothing written. "
        "`dry_run` (default true) only lists the changes.",
    )
    def import_document(
        dry_run: Annotated[bool, Query(description="Only list the changes (default)")] = True,
        message: VersionMessage = None,
    ) -> ImportResult:
        d, who = deps(), caller(r)
        event = r.current_event
        tenant = known(d, who)
        document = validate_document(
            _document_body(event.decoded_body or "", event.headers.get("content-type") or ""), tenant
        )
        changes, listing, constants_change = import_changes(document, tenant)
        if not dry_run:
            calendar_change = document.calendar != tenant.tenant.calendar
            if calendar_change and document.calendar is not None:  # before the automation that counts on it
                d.automation.set_calendar(who.tenant_id, document.calendar)
            write_changes(
                d.automation,
                who.tenant_id,
                tenant,
                changes,
                constants=document.constants if constants_change else None,
                note=note_of(who, message or "import"),
            )
            if calendar_change and document.calendar is None:  # after the automation that counted on it
                d.automation.set_calendar(who.tenant_id, None)
            stopped = _stopped(changes, tenant)
            for how in ("deleted", "switched off"):  # one cancellation job per reason
                ids = [automation_id for automation_id, what in stopped if what == how]
                cancel_waiting(d, who, ids, f"the automation was {how} by an import")
        return ImportResult(dry_run=dry_run, changes=listing)

    return r
