"""Cancelling the waiting runs of automation switched off or deleted, or of a deleted deal, as a
job: thousands of waiting runs are thousands of stops, more than one API request (30 s) or one
stream batch may spend. The request records the job and works a small budget of it at once, so
the common case is finished when the answer comes; the rest is queued for a worker, which works
it in pages, saving count and position after each, and queues it again when its time runs short.

Each run is first marked cancelled in the run log (conditional on it still waiting, and naming
the job), then its execution is stopped: a run that woke meanwhile is left alone and counted as
already ended, and an attempt cut off after marking is recognised by its retry, which stops the
run again (a stop of a stopped execution does nothing) and counts it once. A stop that fails
leaves the run marked: its own check after the wait ends it cancelled (the automation is off or
gone, the deal deleted), so nothing is sent either way."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dealflow.clock import now_iso
from dealflow.model import RunRecord
from dealflow.model.cancellation import MAX_FAILED_RUNS, CancellationCursor, CancellationJob
from dealflow.ports import CancellationJobs, CancellationQueue, RunStarter, Waiters, WaitingRuns

logger = logging.getLogger(__name__)

PAGE = 100  # runs per saved step: a worker cut off loses at most this much work, never a count
INLINE_STOPS = 25  # stops the request itself makes before it hands the rest to a worker
INLINE_CALLS = 2  # run-log reads (each up to 10 index pages) the request makes at most


@dataclass(frozen=True)
class Budget:
    stops: int
    calls: int = 1_000_000
    time_left: Callable[[], float] = field(default=lambda: math.inf)  # seconds
    reserve: float = 0.0  # stop starting pages when no more than this is left

    def allows(self, stops: int, calls: int) -> bool:
        return stops < self.stops and calls < self.calls and self.time_left() > self.reserve


@dataclass
class Counted:
    found: int = 0
    stopped: list[str] = field(default_factory=list)
    already_ended: int = 0
    failed: list[str] = field(default_factory=list)


def new_job(
    tenant_id: str,
    reason: str,
    requested_by: str,
    *,
    automation_ids: Sequence[str] = (),
    deal_id: str | None = None,
) -> CancellationJob:
    stamp = now_iso()
    return CancellationJob(
        job_id=uuid.uuid4().hex,
        tenant_id=tenant_id,
        automation_ids=list(dict.fromkeys(automation_ids)),
        deal_id=deal_id,
        reason=reason,
        requested_by=requested_by,
        created_at=stamp,
        updated_at=stamp,
    )


def _cancel_runs(
    job: CancellationJob, page: list[RunRecord], runs: WaitingRuns, starter: RunStarter, waiters: Waiters | None
) -> Counted:
    counted = Counted(found=len(page))
    for run in page:
        mine = run.status != "waiting"  # the page holds waiting runs and those this job marked
        if not mine and not runs.cancel(run, job.reason, job.job_id):
            counted.already_ended += 1
            continue
        try:
            ended_now = starter.stop(run.execution_id) if run.execution_id else True
        except Exception:  # one stop refused must not hold up the others; the run ends on waking
            logger.warning("stopping run %s failed", run.run_id, exc_info=True)
            counted.failed.append(run.run_id)
            continue
        if waiters is not None and run.waiting_for is not None:  # no event resumes a stopped run
            waiters.forget(run.tenant_id, run.deal_id, run.run_id)
        if ended_now or mine:  # mine: stopped by the attempt that marked it, or now
            counted.stopped.append(run.run_id)
        else:
            counted.already_ended += 1
    return counted


def _next(job: CancellationJob, counted: Counted, cursor: CancellationCursor) -> CancellationJob:
    failed = job.failed + len(counted.failed)
    end = cursor.target >= len(job.targets)
    return job.model_copy(
        update={
            "found": job.found + counted.found,
            "stopped": job.stopped + len(counted.stopped),
            "already_ended": job.already_ended + counted.already_ended,
            "failed": failed,
            "failed_runs": (job.failed_runs + counted.failed)[:MAX_FAILED_RUNS],
            "cursor": cursor,
            "status": ("failed" if failed else "done") if end else "running",
            "updated_at": now_iso(),
            "finished_at": now_iso() if end else None,
            "version": job.version + 1,
        }
    )


@dataclass
class Worked:
    job: CancellationJob  # as saved last
    stopped: list[str]  # the runs this call stopped
    yielded: bool = False  # another worker saved a step meanwhile: the job is that one's


def work(
    job: CancellationJob,
    *,
    jobs: CancellationJobs,
    runs: WaitingRuns,
    starter: RunStarter,
    budget: Budget,
    waiters: Waiters | None = None,
) -> Worked:
    """Work ``job`` on within ``budget``, a page at a time."""
    stopped: list[str] = []
    calls = 0
    while not job.finished and budget.allows(len(stopped), calls):
        cursor = job.cursor
        counted = Counted()
        if cursor.target < len(job.targets):
            deal_id, automation_id = job.targets[cursor.target]
            page, after = runs.cancellable(
                job.tenant_id,
                job_id=job.job_id,
                deal_id=deal_id,
                automation_id=automation_id,
                start=cursor.start,
                limit=min(PAGE, budget.stops - len(stopped)),
            )
            calls += 1
            counted = _cancel_runs(job, page, runs, starter, waiters)
            cursor = (
                CancellationCursor(target=cursor.target, start=after)
                if after
                else CancellationCursor(target=cursor.target + 1)
            )
        step = _next(job, counted, cursor)
        if not jobs.save(step, job.version):
            return Worked(jobs.get(job.tenant_id, job.job_id) or job, stopped, yielded=True)
        job = step
        stopped += counted.stopped
    return Worked(job, stopped)


class Cancellations:
    """Cancellation jobs: requested by the API and the dispatcher, worked on by a worker."""

    def __init__(
        self,
        jobs: CancellationJobs,
        runs: WaitingRuns,
        starter: RunStarter,
        queue: CancellationQueue,
        *,
        inline_stops: int = INLINE_STOPS,
        stops_per_invocation: int = 10_000,
        waiters: Waiters | None = None,
    ) -> None:
        self.jobs, self._runs, self._starter, self._queue = jobs, runs, starter, queue
        self._waiters = waiters  # the registry of runs waiting for events: a cancelled run leaves it
        self._inline = Budget(stops=inline_stops, calls=INLINE_CALLS)
        self._per_invocation = stops_per_invocation

    def request(
        self,
        tenant_id: str,
        reason: str,
        requested_by: str,
        *,
        automation_ids: Sequence[str] = (),
        deal_id: str | None = None,
        record_empty: bool = True,
    ) -> tuple[CancellationJob, list[str]]:
        """Record a job, work its first ``inline_stops`` at once and queue the rest: the job and
        the runs stopped so far. Without ``record_empty``, a job that finds nothing waiting is not
        recorded (a deleted deal rarely has a waiting run, and nobody follows its job)."""
        job = new_job(tenant_id, reason, requested_by, automation_ids=automation_ids, deal_id=deal_id)
        if not record_empty and not self._anything_waiting(job):
            return job.model_copy(update={"status": "done", "finished_at": job.created_at}), []
        self.jobs.create(job)
        worked = work(
            job, jobs=self.jobs, runs=self._runs, starter=self._starter, budget=self._inline, waiters=self._waiters
        )
        if not worked.job.finished:
            self._queue.enqueue(tenant_id, job.job_id)
        return worked.job, worked.stopped

    def _anything_waiting(self, job: CancellationJob) -> bool:
        for deal_id, automation_id in job.targets:
            found, _ = self._runs.cancellable(
                job.tenant_id, job_id=job.job_id, deal_id=deal_id, automation_id=automation_id, limit=1
            )
            if found:
                return True
        return False

    def resume(
        self, tenant_id: str, job_id: str, time_left: Callable[[], float], reserve: float
    ) -> CancellationJob | None:
        """A worker's turn at a job: on from its position while time is left, then queued again
        unless it is finished. None when there is no such job."""
        job = self.jobs.get(tenant_id, job_id)
        if job is None or job.finished:
            return job
        budget = Budget(stops=self._per_invocation, time_left=time_left, reserve=reserve)
        worked = work(job, jobs=self.jobs, runs=self._runs, starter=self._starter, budget=budget, waiters=self._waiters)
        if not worked.job.finished and not worked.yielded:
            self._queue.enqueue(tenant_id, job_id)
        return worked.job
