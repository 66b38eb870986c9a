"""``POST /automation/{id}/what-if``: the automation — as stored, a stored version, or a candidate
given in the body — replayed over the tenant's recent deal changes (``dealflow.authoring.what_if``).
Administrators only, as test mode; nothing is sent or written."""

from __future__ import annotations

from datetime import datetime, timedelta

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field, model_validator

from dealflow import clock
from dealflow.api.context import DepsProvider, caller, known, same_id
from dealflow.api.drafts import draft_of
from dealflow.api.errors import Invalid, NotFound
from dealflow.authoring.checks import AutomationBody, check_automation
from dealflow.authoring.what_if import what_if
from dealflow.model.base import Model
from dealflow.model.what_if import MAX_CHANGES, MAX_WINDOW_HOURS, WhatIfReport

# The published version's runs read beside the changes: enough for MAX_CHANGES changes that each
# started it once or were logged as not starting it.
PUBLISHED_RUNS = 2 * MAX_CHANGES


class WhatIfRequest(Model):
    """Which changes to replay (the newest ``last``, none older than ``since`` or than ``window_hours``
    ago), and what to replay over them: the stored automation, a stored ``version``, its ``draft``, or
    a candidate ``automation`` (checked as a save would check it)."""

    last: int = Field(default=50, ge=1, le=MAX_CHANGES, description="How many of the newest changes")
    since: datetime | None = Field(default=None, description="Only changes from this time on (ISO 8601, with zone)")
    window_hours: int | None = Field(
        default=None, ge=1, le=MAX_WINDOW_HOURS, description="Only changes of the last this many hours"
    )
    version: int | None = Field(default=None, ge=1, description="A stored version of the automation")
    automation: AutomationBody | None = Field(default=None, description="A candidate definition, same id")
    draft: bool = Field(default=False, description="Replay the automation's draft (PUT …/draft)")

    @model_validator(mode="after")
    def _one_subject(self) -> WhatIfRequest:
        if sum((self.version is not None, self.automation is not None, self.draft)) > 1:
            raise ValueError("version: give one of a version, an automation or draft: true")
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError("since: give a time zone (2026-12-01T09:00:00Z)")
        return self

    def earliest(self, now: datetime) -> str | None:
        """The oldest time of a change replayed, as the history's keys write times."""
        bounds = [b for b in (self.since, self.window_hours and now - timedelta(hours=self.window_hours)) if b]
        if not bounds:
            return None
        return max(b.astimezone(now.tzinfo) for b in bounds).isoformat(timespec="milliseconds")


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.post(
        "/automation/<automation_id>/what-if",
        tags=["automation"],
        summary="What-if (administrators): replay it over recent real deal changes",
        description="For each of the tenant's recent deal changes (newest first; the dispatcher keeps a "
        "week, at most 100 per tenant per stream batch): would a run start (with the condition values), "
        "and the run in test mode — its steps and rendered texts — beside what the published version "
        "did for the same change (from the run log). Nothing is sent or written.",
    )
    def replay(automation_id: str, request: WhatIfRequest) -> WhatIfReport:
        d, who = deps(), caller(r)
        tenant = known(d, who)
        stored = tenant.by_id.get(automation_id)
        if stored is None:
            raise NotFound("automation", automation_id)
        candidate, given = stored, False
        if request.draft:
            candidate, given = draft_of(d, who, automation_id).automation, True
        elif request.automation is not None:
            same_id(automation_id, request.automation.id, "automation.id")
            try:
                check_automation(request.automation, tenant)
            except Invalid as exc:
                raise Invalid([{**p, "field": f"automation.{p['field']}"} for p in exc.problems]) from None
            candidate, given = request.automation, True
        elif request.version is not None and request.version != stored.version:
            found = list(d.automation.versions(who.tenant_id, automation_id, request.version))
            if not found:
                raise NotFound("version", str(request.version))
            candidate = found[0]
        if d.history is None:
            raise NotFound("change history", who.tenant_id)
        changes = d.history.recent(who.tenant_id, request.last, request.earliest(clock.now()))
        published = d.runs.for_automation(who.tenant_id, automation_id, limit=PUBLISHED_RUNS)
        return what_if(candidate, changes, tenant, d.services(), published, given=given)

    return r
