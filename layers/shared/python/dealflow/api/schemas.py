"""Bodies the API takes and gives that are not domain models themselves: what a person may send
to create or change a deal (never the tenant, the version counter or engine bookkeeping), list
envelopes, test-mode requests. Domain models (``Pipeline``, ``FieldDefinition``, ``Automation``,
``Deal``, ``RunRecord``) are the schema everywhere else."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from dealflow.authoring.loops import Loop
from dealflow.authoring.moves import Selection, Target
from dealflow.model import (
    BusinessProcess,
    Contact,
    Deal,
    FieldDefinition,
    Lead,
    Pipeline,
    Role,
    Rule,
    RunRecord,
    Trigger,
    Tunnel,
    TypedValue,
)
from dealflow.model.access import ItemView, RoleRights
from dealflow.model.base import Id, Model
from dealflow.model.bounds import StoredDecimal
from dealflow.model.cancellation import CancellationJob, JobStatus
from dealflow.model.catalog import Automation
from dealflow.model.deal import CustomFields, DealValues
from dealflow.model.saved_tests import TestReport

Item = Annotated[Deal | Lead, Field(discriminator="entity")]


def _given(field: str, json_type: str) -> dict[str, Any]:
    """JSON schema: ``field`` is present and not null (for either/or bodies)."""
    return {"required": [field], "properties": {field: {"type": json_type}}}


class PipelineList(Model):
    items: list[Pipeline]


class FieldList(Model):
    items: list[FieldDefinition]


class AutomationList(Model):
    items: list[Automation]


class RunList(Model):
    items: list[RunRecord]


class Cancellation(Model):
    """A cancellation job as the API shows it (``GET /cancellations/{job_id}``)."""

    job_id: str
    status: JobStatus = Field(
        description="queued or running: a worker goes on with it; done: every waiting run found has ended; "
        "failed: done, but some stops failed (`failed_runs`; those runs end cancelled when they wake)"
    )
    automation_ids: list[str]
    deal_id: str | None
    reason: str
    requested_by: str
    created_at: str
    updated_at: str
    finished_at: str | None
    found: int = Field(description="Waiting runs found so far")
    stopped: int = Field(description="Stopped and marked cancelled")
    already_ended: int = Field(description="Ended on their own before they could be stopped")
    failed: int = Field(description="Whose stop failed")
    failed_runs: list[str]
    link: str = Field(description="Where to follow it: `GET /cancellations/{job_id}`")

    @classmethod
    def of(cls, job: CancellationJob) -> Cancellation:
        shown = job.model_dump(exclude={"tenant_id", "cursor", "version"})
        return cls(**shown, link=f"/cancellations/{job.job_id}")


CANCELLATION = (
    "The cancellation job of its waiting runs (null when nothing is cancelled): the first few are stopped "
    "within this request (`cancelled_runs`); `status` done says that was all, queued or running that a "
    "worker goes on with the rest (follow `link`)"
)


class Switched(Model):
    automation: Automation
    cancelled_runs: list[str] = Field(
        description="Waiting runs stopped within this request because the automation was switched off"
    )
    cancellation: Cancellation | None = Field(default=None, description=CANCELLATION)
    warnings: list[str] = Field(default_factory=list, description="What it references that no longer exists")
    loop_warning: Loop | None = Field(default=None, description="Enabled automation it can start in a circle")


class Deleted(Model):
    id: str
    cancelled_runs: list[str] = Field(description="Waiting runs stopped within this request")
    cancellation: Cancellation | None = Field(default=None, description=CANCELLATION)


class DealPage(Model):
    """One page of a deal or lead list, each item as the caller may see it."""

    items: list[ItemView]
    scanned: int = Field(
        description="Stored items read for this page: with a filter, more than `items`; a page cut short "
        "by the read cap has fewer items than `limit` (maybe none) and a `next_token`"
    )
    next_token: str | None = Field(description="Pass as `next_token` for the next page; null on the last")


class RightsOverview(Model):
    role: Role = Field(description="The caller's role")
    rights: dict[Role, RoleRights] = Field(
        description="Effective rights, every known field's level spelled "
        "out: the caller's role, or every role for administrators"
    )


class NewDeal(DealValues):
    """A deal or lead to create in the caller's tenant."""

    entity: Literal["deal", "lead"] = "deal"
    id: Id | None = Field(default=None, description="Chosen by the caller, or generated")
    lead_id: Id | None = None


class DealUpdate(Model):
    """Standard fields to change and custom fields to set (null removes one); ``version`` is the
    one the caller read — someone else's write since then makes this a 409."""

    version: int = Field(ge=1)
    title: str | None = Field(default=None, min_length=1, max_length=500)
    amount: StoredDecimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    responsible_id: Id | None = None
    contact: Contact | None = None
    company: str | None = Field(default=None, max_length=200)
    fields: CustomFields = Field(default_factory=dict)
    steps: dict[Id, bool] = Field(
        default_factory=dict, description="Steps of the deal's pipeline to mark done (true) or undo (false)"
    )


class StageMove(Model):
    stage_id: Id
    pipeline_id: Id | None = Field(default=None, description="Another pipeline of the same entity (default: the same)")
    version: int | None = Field(default=None, ge=1, description="When given, a write since this version is a 409")


class DryRunRequest(Model):
    """Test mode on a stored deal (``deal_id``) or on a deal described here (``deal``), never both."""

    # The document says "one or the other" as the check below does.
    model_config = ConfigDict(json_schema_extra={"oneOf": [_given("deal_id", "string"), _given("deal", "object")]})

    deal_id: Id | None = None
    deal: NewDeal | None = None

    @model_validator(mode="after")
    def _one(self) -> DryRunRequest:
        if (self.deal_id is None) == (self.deal is None):
            raise ValueError("deal_id: give either deal_id or deal")
        return self


class BrokenAutomation(Model):
    """Automation or a field–step workflow flagged (not deleted) because something it references is
    gone; it is skipped (a workflow does nothing) until fixed."""

    id: str
    name: str
    kind: str = Field(description="The automation's kind, or `field_step_workflow` (see /field-step-workflows)")
    warnings: list[str]


class PipelineWritten(Pipeline):
    """The stored pipeline (its new ``version``) and the automation the change broke."""

    broken_automation: list[BrokenAutomation] = Field(default_factory=list)


class FieldWritten(FieldDefinition):
    """The stored field (its new ``version``) and the automation the change broke (a kind change)."""

    broken_automation: list[BrokenAutomation] = Field(default_factory=list)


class DefinitionDeleted(Model):
    deleted: str = Field(description="The pipeline id or field code")
    broken_automation: list[BrokenAutomation] = Field(
        description="Automation and field–step workflows the deletion broke"
    )


class _Reported(Model):
    warnings: list[str] = Field(default_factory=list, description="What it references that no longer exists")
    loop_warning: Loop | None = Field(
        default=None,
        description="Enabled automation it can start in a circle "
        "(reported, not refused: the runtime depth guard still applies)",
    )


class RuleWritten(Rule, _Reported):
    pass


class TunnelWritten(Tunnel, _Reported):
    pass


class TriggerWritten(Trigger, _Reported):
    pass


class BusinessProcessWritten(BusinessProcess, _Reported):
    pass


# Stored automation as PUT answers it: the automation and what the check found about it.
AutomationWritten = Annotated[
    RuleWritten | TunnelWritten | TriggerWritten | BusinessProcessWritten, Field(discriminator="kind")
]


class AutomationWarnings(Model):
    automation_id: str
    name: str
    kind: str
    warnings: list[str]


class WarningList(Model):
    items: list[AutomationWarnings] = Field(description="Automation with broken references or in a loop")
    loops: list[Loop] = Field(description="Enabled automation that can start each other in a circle")


class NamedValue(TypedValue):
    """A constant or a variable with its name."""

    name: str

    @classmethod
    def of(cls, name: str, typed: TypedValue) -> NamedValue:
        return cls(name=name, type=typed.type, value=typed.value)


class ValueDeleted(NamedValue):
    """The value a deleted constant or variable had, and the automation its deletion broke."""

    broken_automation: list[BrokenAutomation] = Field(
        default_factory=list, description="Automation that names the deleted constant (`const.x`)"
    )


class NamedValueList(Model):
    items: list[NamedValue]


class RunPage(Model):
    items: list[RunRecord] = Field(description="Newest first")
    next_token: str | None = Field(
        default=None,
        description="Give it back for the next page; null at the end "
        "(a page may hold fewer runs than asked for and still have a next one)",
    )


class AutomationCopy(Model):
    """Where a copy goes (default: where the original is), under which id (default: made from the
    original's), name and switch (default: the original's)."""

    pipeline_id: Id | None = None
    stage_id: Id | None = None
    entity: Literal["deal", "lead"] | None = Field(default=None, description="Business processes without a pipeline")
    id: Id | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None


class AutomationMove(Model):
    pipeline_id: Id | None = None
    stage_id: Id | None = None
    entity: Literal["deal", "lead"] | None = Field(default=None, description="Business processes without a pipeline")
    version: int | None = Field(default=None, ge=1, description="When given, a write since this version is a 409")


class BulkRequest(Model):
    """One operation on automation named by ``ids`` or chosen by ``select``; copy and move need a ``target``."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [_given("ids", "array"), _given("select", "object")],
            "if": {"required": ["operation"], "properties": {"operation": {"enum": ["copy", "move"]}}},
            "then": _given("target", "object"),
        }
    )

    operation: Literal["copy", "move", "enable", "disable", "delete"]
    ids: list[Id] | None = Field(default=None, max_length=1000)
    select: Selection | None = None
    target: Target | None = None

    @model_validator(mode="after")
    def _complete(self) -> BulkRequest:
        if (self.ids is None) == (self.select is None):
            raise ValueError("ids: give either ids or select")
        if self.operation in ("copy", "move") and self.target is None:
            raise ValueError(f"target: required to {self.operation}")
        return self


class BulkResult(Model):
    operation: str
    changed: list[Automation] = Field(description="Automation as written: copies, moved or switched ones")
    deleted: list[str]
    cancelled_runs: list[str] = Field(
        description="Waiting runs stopped within this request because their automation went off or away"
    )
    cancellation: Cancellation | None = Field(
        default=None, description="One job for every automation switched off or deleted: " + CANCELLATION
    )


class DraftDeleted(Model):
    id: str = Field(description="The automation whose draft was dropped")


class Published(Model):
    automation: AutomationWritten = Field(description="The automation as now published, with its warnings")
    tests: TestReport = Field(description="The saved tests as they ran on the draft (failures shown when forced)")


class TestRunRequest(Model):
    draft: bool = Field(default=False, description="Run them on the draft instead of the published version")
