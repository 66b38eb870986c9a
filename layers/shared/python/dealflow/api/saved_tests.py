"""Saved tests of an automation, ``/automation/{id}/tests``: list, read, create or replace,
delete, and ``POST …/tests/run`` — every one on the published version (or the draft), a report
per test with each failure's expected and actual. Publishing a draft runs them too
(``api.drafts``)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.context import CREATED_OR_REPLACED, Caller, DepsProvider, caller, known, same_id
from dealflow.api.deps import Deps
from dealflow.api.drafts import draft_of
from dealflow.api.errors import Invalid, NotFound
from dealflow.api.schemas import Deleted, TestRunRequest
from dealflow.authoring.checks import check_deal
from dealflow.authoring.saved_tests import run_saved_tests
from dealflow.model import STANDARD_FIELDS
from dealflow.model.saved_tests import MAX_TESTS, SavedTest, SavedTestList, TestReport

_AFTER = STANDARD_FIELDS | {"pipeline_id", "stage_id"}


def _owner_exists(d: Deps, who: Caller, automation_id: str) -> None:
    """Tests belong to an automation that is published or drafted."""
    if automation_id not in known(d, who).by_id and d.automation.drafts.get(who.tenant_id, automation_id) is None:
        raise NotFound("automation", automation_id)


def _checked(d: Deps, who: Caller, test: SavedTest) -> SavedTest:
    """A saved test's deal checked as a deal write is, its expected fields known ones (422 naming them)."""
    tenant = known(d, who)
    place = ("deal", test.deal.pipeline_id, test.deal.stage_id)
    try:
        held = check_deal(tenant, place=place, responsible_id=test.deal.responsible_id, fields=test.deal.fields)
    except Invalid as exc:
        raise Invalid([{**p, "field": f"deal.{p['field']}"} for p in exc.problems]) from None
    unknown = [name for name in test.expect.fields if name not in _AFTER and name not in tenant.fields]
    if unknown:
        raise Invalid([{"field": f"expect.fields.{n}", "problem": f"no field '{n}' in this tenant"} for n in unknown])
    return test.model_copy(update={"deal": test.deal.model_copy(update={"fields": held})})


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get("/automation/<automation_id>/tests", summary="The automation's saved tests", tags=["automation"])
    def list_tests(automation_id: str) -> SavedTestList:
        d, who = deps(), caller(r)
        _owner_exists(d, who, automation_id)
        return SavedTestList(items=d.automation.saved_tests.list(who.tenant_id, automation_id))

    @r.get("/automation/<automation_id>/tests/<test_id>", summary="One saved test", tags=["automation"])
    def get_test(automation_id: str, test_id: str) -> SavedTest:
        d, who = deps(), caller(r)
        found = next((t for t in d.automation.saved_tests.list(who.tenant_id, automation_id) if t.id == test_id), None)
        if found is None:
            raise NotFound(f"saved test of automation '{automation_id}'", test_id)
        return found

    @r.put(
        "/automation/<automation_id>/tests/<test_id>",
        tags=["automation"],
        summary="Create or replace a saved test (administrators)",
        description=f"A deal (or, with `before`, a change), optional constants and what must happen. At most "
        f"{MAX_TESTS} per automation. 201 when it is new.",
        responses=CREATED_OR_REPLACED,
    )
    def put_test(automation_id: str, test_id: str, test: SavedTest) -> Response[SavedTest]:
        same_id(test_id, test.id)
        d, who = deps(), caller(r)
        _owner_exists(d, who, automation_id)
        test = _checked(d, who, test)
        existing = d.automation.saved_tests.list(who.tenant_id, automation_id)
        if test.id not in {t.id for t in existing} and len(existing) >= MAX_TESTS:
            raise Invalid.field("id", f"automation '{automation_id}' has {MAX_TESTS} saved tests, the most it may")
        created = d.automation.saved_tests.put(who.tenant_id, automation_id, test)
        return Response(201 if created else 200, content_types.APPLICATION_JSON, test)

    @r.delete("/automation/<automation_id>/tests/<test_id>", summary="Delete a saved test", tags=["automation"])
    def delete_test(automation_id: str, test_id: str) -> Deleted:
        d, who = deps(), caller(r)
        if not d.automation.saved_tests.delete(who.tenant_id, automation_id, test_id):
            raise NotFound(f"saved test of automation '{automation_id}'", test_id)
        return Deleted(id=test_id, cancelled_runs=[])

    @r.post(
        "/automation/<automation_id>/tests/run",
        tags=["automation"],
        summary="Run the automation's saved tests (administrators)",
        description="In test mode: nothing is sent, written or kept. Each test's result, and for each "
        "failure what was expected and what happened.",
    )
    def run_tests(automation_id: str, request: TestRunRequest) -> TestReport:
        d, who = deps(), caller(r)
        if request.draft:
            automation, tested = draft_of(d, who, automation_id).automation, "draft"
        else:
            found = known(d, who).by_id.get(automation_id)
            if found is None:
                raise NotFound("automation", automation_id)
            automation, tested = found, f"version {found.version}"
        tests = d.automation.saved_tests.list(who.tenant_id, automation_id)
        return run_saved_tests(automation, tests, who.tenant_id, d.services(), tested)

    return r
