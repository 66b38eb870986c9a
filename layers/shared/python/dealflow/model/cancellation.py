"""A cancellation job: the waiting runs of automation switched off or deleted (or of a deleted
deal) stopped in pages, so one API request never issues thousands of stops; what it counted so far
and where in the run log it goes on from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dealflow.model.base import Id, Model

JobStatus = Literal["queued", "running", "done", "failed"]
MAX_FAILED_RUNS = 20  # the job item stays small however many stops fail; the count says how many


class CancellationCursor(Model):
    """Where the job goes on: the index of the automation (or deal) it is at, and the run-log
    index position after the last page it counted (None: from that one's beginning)."""

    target: int = Field(default=0, ge=0)
    start: dict[str, str] | None = None


class CancellationJob(Model):
    job_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    tenant_id: Id
    automation_ids: list[Id] = Field(default_factory=list, description="Automation whose waiting runs are cancelled")
    deal_id: Id | None = Field(default=None, description="The deleted deal whose waiting runs are cancelled")
    reason: str = Field(description="Why, as each cancelled run's entry in the run log says")
    requested_by: str = Field(description="The user who switched off or deleted; `dealflow` for a deleted deal")
    created_at: str
    updated_at: str
    finished_at: str | None = None
    status: JobStatus = "queued"
    found: int = Field(default=0, description="Waiting runs found so far")
    stopped: int = Field(default=0, description="Of those, stopped and marked cancelled by this job")
    already_ended: int = Field(default=0, description="Of those, ended on their own before they could be stopped")
    failed: int = Field(default=0, description="Of those, whose stop failed (marked cancelled; they end on waking)")
    failed_runs: list[str] = Field(default_factory=list, description=f"The first {MAX_FAILED_RUNS} of those")
    cursor: CancellationCursor = Field(default_factory=CancellationCursor)
    version: int = Field(default=1, ge=1, description="Bumped with every saved step: two workers cannot both count one")

    @property
    def targets(self) -> list[tuple[str | None, str | None]]:
        """(deal id, automation id) per part of the job, in the order it works them."""
        if self.deal_id is not None:
            return [(self.deal_id, None)]
        return [(None, automation_id) for automation_id in self.automation_ids]

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


class JobMessage(Model):
    """What the cancellation queue carries: the job to go on with (all else is in its item)."""

    tenant_id: Id
    job_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
