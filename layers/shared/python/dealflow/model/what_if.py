"""What-if: an automation (a stored version, or a candidate) replayed over a tenant's recent real
deal changes in test mode, beside what the published version did for the same changes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dealflow.model.base import Model
from dealflow.model.run import RunRecord, RunStatus

MAX_CHANGES = 200
MAX_WINDOW_HOURS = 24 * 7  # the history keeps a week

Verdict = Literal["would_start", "would_not_start", "not_concerned"]


class PublishedRun(Model):
    """A run the published version started (or logged as not started) for the same change."""

    run_id: str
    status: RunStatus
    reason: str | None = None
    steps: list[str] = Field(default_factory=list, description="Each step as `name: outcome`")


class WhatIfChange(Model):
    """One recent change, and what the automation would have done with it."""

    event_id: str
    deal_id: str
    at: str = Field(description="When the dispatcher saw the change")
    change: dict[str, Any] = Field(description="`kind` (created, updated), `entered` stage, `changed_fields`")
    verdict: Verdict
    reason: str | None = Field(default=None, description="Why it would not start")
    conditions: list[dict[str, Any]] = Field(
        default_factory=list, description="What each clause saw (operands resolved), when a condition decided"
    )
    run: RunRecord | None = Field(
        default=None, description="The run it would make, in test mode: steps, rendered texts"
    )
    published: list[PublishedRun] = Field(
        default_factory=list, description="What the published version did for this change, from the run log"
    )


class WhatIfReport(Model):
    automation_id: str
    version: int
    candidate: bool = Field(description="True when the automation replayed was given, not the stored one")
    changes: int = Field(description="How many recent changes were replayed")
    would_start: int
    published_started: int = Field(description="Changes for which the published version started a run")
    items: list[WhatIfChange] = Field(description="Newest change first")
