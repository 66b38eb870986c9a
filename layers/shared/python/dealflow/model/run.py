"""Runs: the request that starts one (the runner's input) and the run-log record it leaves."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dealflow.model.base import Id, Model
from dealflow.model.failures import unset

RunStatus = Literal[
    "running", "waiting", "completed", "skipped", "failed", "cancelled", "not_started", "goal_met", "exited"
]


class StageEntry(Model):
    """The change that started a run: a deal entered (pipeline_id, stage_id), or an event
    happened to it (a trigger's event, a field that changed)."""

    pipeline_id: Id
    stage_id: Id
    event: str | None = None
    from_pipeline_id: Id | None = None
    from_stage_id: Id | None = None
    # A run the clock started: its schedule's fire time, or the date field, its value and when it
    # was due (``event`` is ``schedule`` or ``date``).
    fire_time: str | None = Field(default=None, exclude_if=unset)
    date_field: str | None = Field(default=None, exclude_if=unset)
    date_value: str | None = Field(default=None, exclude_if=unset)
    due_at: str | None = Field(default=None, exclude_if=unset)


class AutomationRef(Model):
    """The automation a run runs, by reference: the runner loads exactly this saved version."""

    id: Id
    version: int = Field(ge=1, description="The definition's version the dispatcher planned with")
    digest: str = Field(pattern=r"^[0-9a-f]{16}$", description="Tells two contents saved as one version apart")
    kind: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200, description="For the run log, before the version is loaded")


class RunRequest(Model):
    """What starts a run, by reference: which item, which automation at which version, what
    started it. The runner's first step loads the automation's saved version and reads the item as
    it is then, so the request stays a few KB however large the deal or the automation (the
    durable execution's input is capped at 256 KB; the whole deal and automation once passed it)."""

    run_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    tenant_id: Id
    event_id: str = Field(min_length=1, max_length=200, description="The stream record's eventID")
    deal_id: Id = Field(description="The deal or lead whose change started the run")
    entity: Literal["deal", "lead"] = "deal"
    deal_version: int = Field(default=1, ge=1, description="The item's version as the change showed it")
    started_by: StageEntry
    automation: AutomationRef
    target_id: Id | None = Field(
        default=None, description="The item acted on, when not the changed deal (a lead whose linked deal was won)"
    )
    depth: int = Field(default=1, ge=1, description="How many automation writes led to this run")
    chain: list[str] = Field(default_factory=list, description="Automation ids that led to this run")
    parameters: dict[str, Any] = Field(default_factory=dict, description="A manual start's parameter values")
    previous: dict[str, Any] | None = Field(
        default=None,
        description="Before the change that started the run: the values of the changed fields its "
        "changed / changed_from / changed_to conditions read (None: the item was new). Re-checked "
        "after a wait, those conditions still see the change; every other value is read afresh.",
    )
    changed: dict[str, Any] = Field(
        default_factory=dict, description="The fields those conditions read, as the change left them"
    )
    retry_of: str | None = Field(
        default=None, description="The failed (or waiting) run this run retries (or resumes early)"
    )
    effects_of: str | None = Field(
        default=None,
        description="The run whose effect keys this run uses (the first run of a retry chain): an effect "
        "that run did is in the ledger under its key and is not repeated",
    )
    resume_at: str | None = Field(
        default=None,
        description="The node (its place in the tree) the walk starts at; nodes before it were done by "
        "the run retried and are passed over. None: from the start",
    )
    resume_after_wait: bool = Field(
        default=False, description="``resume_at`` is a wait: it counts as over (a waiting run resumed early)"
    )


class RunStep(Model):
    name: str
    kind: Literal["condition", "wait", "action", "check"]
    outcome: str
    detail: dict[str, Any] = Field(default_factory=dict)
    at: str | None = None


class RunError(Model):
    """An action that failed after its retries without failing the run: its ``on_error`` was
    ``continue`` (``handled: continued``), or its fault branch ran (``handled: fault_branch``)."""

    step: str
    reason: str
    attempts: int | None = None
    handled: Literal["continued", "fault_branch"]


class RunRecord(Model):
    """One run in the run log: what started it, each step, and how it ended."""

    tenant_id: Id
    run_id: str
    automation_id: Id
    automation_name: str
    automation_kind: str
    deal_id: Id
    event_id: str
    started_by: dict[str, Any]
    status: RunStatus
    reason: str | None = None
    steps: list[RunStep] = Field(default_factory=list)
    started_at: str
    finished_at: str | None = None
    wake_at: str | None = Field(default=None, description="When a waiting run resumes")
    waiting_for: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="What a run waiting at a wait_for node waits for (it resumes when that comes, or at wake_at)",
    )
    test: bool = Field(default=False, description="A test-mode run: nothing was sent or written")
    execution_id: str | None = Field(default=None, description="The durable execution running it")
    automation_version: int | None = Field(default=None, description="The automation's version the run walks")
    position: str | None = Field(
        default=None,
        description="Where in the automation's tree a failed run failed, or a waiting run waits (a node's "
        "place, e.g. `n1.b0.n2` or `action-2-send_email`): a retry from the failed step, or an early "
        "resume, starts there",
    )
    retry_of: str | None = Field(default=None, description="The run this run retries or resumes early")
    retried_by: str | None = Field(default=None, description="The run that retries (or resumed) this one")
    request: RunRequest | None = Field(
        default=None,
        exclude=True,
        description="What started the run, kept while it waits or once it failed, so it can be retried "
        "or resumed; stored, never shown (it holds field values)",
    )
    errors: list[RunError] = Field(
        default_factory=list,
        exclude_if=lambda errors: not errors,
        description="Failed actions the run handled and went past: a completed run with errors "
        "'completed with errors'; a failed one whose last error was handled by a fault branch "
        "failed after handling it",
    )


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of Lambda's "Durable Execution Status Change" EventBridge event: how a
    runner execution ended, even when the runner itself never got control to say so. AWS may add
    fields to it, so unknown ones are ignored rather than refused."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    execution_id: str = Field(alias="durableExecutionArn", min_length=1)
    name: str | None = Field(default=None, alias="durableExecutionName")
    status: str = Field(description="RUNNING, SUCCEEDED, FAILED, TIMED_OUT or STOPPED")
    ended_at: str | None = Field(default=None, alias="endTimestamp")
