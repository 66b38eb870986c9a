"""Drafts: ``PUT /automation/{id}/draft`` edits a draft while the published version keeps running,
``POST …/draft/test`` runs it in test mode, ``POST …/publish`` makes it live as the next version —
after the automation's saved tests pass on it (a failure is a 409 showing the report, unless
``force``). A draft is checked as a save is (422 naming the field), so publishing cannot fail on
what the draft says; only on what changed meanwhile (a 409)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from dealflow import clock
from dealflow.api.automation import save_automation, test_deal
from dealflow.api.context import CREATED_OR_REPLACED, Caller, DepsProvider, caller, known, same_id
from dealflow.api.definitions import note_of
from dealflow.api.deps import Deps
from dealflow.api.errors import Conflict, Invalid, NotFound
from dealflow.api.rights import check_automation_author
from dealflow.api.schemas import DraftDeleted, DryRunRequest, Published
from dealflow.api.warnings import reported
from dealflow.authoring.checks import AutomationBody, check_automation
from dealflow.authoring.saved_tests import run_saved_tests
from dealflow.engine.testmode import run_test
from dealflow.model import RunRecord
from dealflow.model.catalog import Automation
from dealflow.model.versions import Draft, Publish


def draft_of(d: Deps, who: Caller, automation_id: str) -> Draft:
    """The automation's draft, or a 404 naming it. The seam for a draft's what-if: the candidate a
    what-if runs is ``draft_of(...).automation``."""
    found = d.automation.drafts.get(who.tenant_id, automation_id)
    if found is None:
        raise NotFound("draft of automation", automation_id)
    return found


def _published_version(d: Deps, who: Caller, automation_id: str) -> int:
    current = known(d, who).by_id.get(automation_id)
    return current.version if current is not None else 0


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get("/automation/<automation_id>/draft", summary="The automation's draft", tags=["automation"])
    def get_draft(automation_id: str) -> Draft:
        return draft_of(deps(), caller(r), automation_id)

    @r.put(
        "/automation/<automation_id>/draft",
        tags=["automation"],
        summary="Create or replace the automation's draft (administrators)",
        description="Checked as a save is (422 naming the field); the published version keeps running. "
        "`based_on` records the published version (0: none yet); publishing after someone else published "
        "is a 409. `version` in the body is ignored. 201 when there was no draft.",
        responses=CREATED_OR_REPLACED,
    )
    def put_draft(automation_id: str, automation: Annotated[AutomationBody, Body()]) -> Response[Draft]:
        same_id(automation_id, automation.id)
        d, who = deps(), caller(r)
        tenant = known(d, who)
        automation = automation.model_copy(update={"owner_id": who.user_id})
        check_automation(automation, tenant)
        check_automation_author(automation, tenant, who)
        current = tenant.by_id.get(automation_id)
        if current is not None and current.kind != automation.kind:
            raise Invalid.field("kind", f"automation '{automation_id}' is a {current.kind}, not a {automation.kind}")
        draft = Draft(
            automation=automation,
            based_on=current.version if current else 0,
            saved_by=who.user_id,
            saved_at=clock.now_iso(),
        )
        created = d.automation.drafts.get(who.tenant_id, automation_id) is None
        d.automation.drafts.put(who.tenant_id, draft)
        return Response(201 if created else 200, content_types.APPLICATION_JSON, draft)

    @r.delete("/automation/<automation_id>/draft", summary="Drop the automation's draft", tags=["automation"])
    def delete_draft(automation_id: str) -> DraftDeleted:
        d, who = deps(), caller(r)
        if not d.automation.drafts.delete(who.tenant_id, automation_id):
            raise NotFound("draft of automation", automation_id)
        return DraftDeleted(id=automation_id)

    @r.post(
        "/automation/<automation_id>/draft/test",
        tags=["automation"],
        summary="Test mode on the draft (administrators)",
        description="As `POST /automation/{automation_id}/test`, with the draft instead of the published version.",
    )
    def test_draft(automation_id: str, request: DryRunRequest) -> RunRecord:
        d, who = deps(), caller(r)
        return run_test(draft_of(d, who, automation_id).automation, test_deal(d, who, request), d.services())

    @r.post(
        "/automation/<automation_id>/publish",
        tags=["automation"],
        summary="Publish the draft as the automation's next version (administrators)",
        description="The automation's saved tests run on the draft first: any failing is a 409 with the "
        "report (`tests`), unless `force`. Someone publishing or saving since the draft was started is a "
        "409 too (PUT the draft again). Runs already started keep the version they started on.",
    )
    def publish(automation_id: str, request: Publish) -> Published:
        d, who = deps(), caller(r)
        draft = draft_of(d, who, automation_id)
        at = _published_version(d, who, automation_id)
        if at != draft.based_on:
            raise Conflict(
                f"automation '{automation_id}' is at version {at}, the draft was started from version "
                f"{draft.based_on}; PUT the draft again over what is published",
                current_version=at,
            )
        tests = d.automation.saved_tests.list(who.tenant_id, automation_id)
        report = run_saved_tests(draft.automation, tests, who.tenant_id, d.services(), "draft")
        if not report.ok and not request.force:
            raise Conflict(
                f'{report.failed} of {len(tests)} saved tests fail on the draft; fix it, or publish with "force": true',
                tests=report.model_dump(mode="json"),
            )
        candidate: Automation = draft.automation.model_copy(update={"version": max(at, 1)})
        stored, _ = save_automation(d, who, candidate, note_of(who, request.message))
        d.automation.drafts.delete(who.tenant_id, automation_id)
        return Published(automation=reported(known(d, who), stored), tests=report)

    return r
