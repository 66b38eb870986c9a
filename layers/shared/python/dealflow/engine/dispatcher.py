"""The dispatcher: a Lambda batch of stream records in, runs started and run-log entries written out.

Each record is planned on its own (``dealflow.engine.dispatch.plan_record``), in the batch's order,
and what must happen at once happens then: a deleted deal's waiting runs are cancelled, field–step
workflows mark their steps, runs waiting for what the change shows are resumed. What costs AWS
calls waits for the end of the batch (``DispatchBatch.finish``): every run the batch calls for is
started together — concurrently, when the starter can (``dealflow.aws.run_starter``) — and the
run-log entries of the runs not started are written together (``DispatcherLog.flush``).

What order is kept, and why no more is needed: a run's start is an asynchronous invoke of a durable
execution named after (record, automation); nothing orders two invokes on AWS, and a run reads the
deal as it is when its steps run, comparing only the values its request carries from its own
record. So runs of one batch may start in any order, the records of one deal included. The one
place order shows is a deletion: the runs queued for that deal are started before its waiting runs
are looked up for cancelling, as they were when each record started its runs at once.

A start that fails fails its own record only (reported in ``BatchOutcome.failed``, which the
handler turns into ``batchItemFailures``); every other start of the batch is still made. The
mapping delivers a failed record again and its runs are planned again under the same names:
the ones that did start are not started twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dealflow.clock import now_iso
from dealflow.engine.changes import ChangeKind, DealChange, touched
from dealflow.engine.compiled import CompiledAutomation, TenantAutomation
from dealflow.engine.dispatch import NotStarted, plan_record
from dealflow.engine.enrollment import admitted
from dealflow.engine.run_starts import start_each
from dealflow.ports import RecordedChange

if TYPE_CHECKING:  # the dispatcher's cold start: models load with its first automation
    from dealflow.model import RunRequest
    from dealflow.ports import ChangeHistory, EnrollmentBook, RunStarter


class DispatcherLog(Protocol):
    """The run-log entries of what a change did not start; kept until ``flush``."""

    def loop_stopped(self, change: DealChange, event_id: str, stopped: Sequence[CompiledAutomation]) -> None: ...

    def not_started(self, change: DealChange, event_id: str, entries: Sequence[NotStarted]) -> None: ...

    def skipped(self, change: DealChange, event_id: str, entries: Sequence[dict[str, Any]]) -> None: ...

    def refused(self, change: DealChange, event_id: str, entries: Sequence[tuple[Any, str]]) -> None:
        """Automation (its run request's reference: id, name, kind) whose enrollment rule kept the
        change from starting it, with why."""
        ...

    def flush(self) -> set[str]:
        """Write what was kept; the event ids of the records whose entries could not be written."""
        ...


class RunLogNotWritten(RuntimeError):
    """A record's run-log entries could not be written (after the store's own retries)."""


@dataclass
class BatchOutcome:
    """Per stream record (by event id): the runs that started, and why a record failed."""

    started: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, Exception] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Queued:
    event_id: str
    deal: tuple[str, str]  # (tenant id, deal id)
    run: RunRequest


class Dispatcher:
    """Turns stream records into started runs. One instance per container; each Lambda batch is a
    ``batch()``, in which each tenant's automation loads at most once."""

    def __init__(
        self,
        load: Callable[[str], TenantAutomation],
        starter: RunStarter,
        log: DispatcherLog,
        on_deleted: Callable[[str, str], object] | None = None,
        on_change: Callable[[DealChange, TenantAutomation, str], object] | None = None,
        on_waiting: Callable[[DealChange, TenantAutomation], object] | None = None,
        enrollments: EnrollmentBook | None = None,
        on_dates: Callable[[DealChange, TenantAutomation], object] | None = None,
        history: ChangeHistory | None = None,
    ) -> None:
        self._load = load
        # Read and written only for automation with an enrollment rule (``engine.enrollment``).
        self.enrollments = enrollments
        self.starter = starter
        self.log = log
        self.on_deleted = on_deleted
        # Work a change calls for besides runs (field–step workflows marking steps done).
        self.on_change = on_change
        # Runs waiting for what a change may show (wait_for nodes: a field condition, a stage, a step).
        self.on_waiting = on_waiting
        # Date-field triggers: an item's changed date arms its timer (``engine.timers.DateArming``).
        self.on_dates = on_dates
        # Recent deal changes per tenant, kept for what-if (``dealflow.authoring.what_if``).
        self.history = history
        self._batch: dict[str, TenantAutomation] = {}

    def new_batch(self) -> None:
        self._batch = {}

    def automation_for(self, tenant_id: str) -> TenantAutomation:
        if tenant_id not in self._batch:
            self._batch[tenant_id] = self._load(tenant_id)
        return self._batch[tenant_id]

    def batch(self) -> DispatchBatch:
        """A new Lambda batch: automation is read afresh (once per tenant) for it."""
        self.new_batch()
        return DispatchBatch(self)

    def handle(
        self, old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None, event_id: str
    ) -> list[str]:
        """One stream record as a batch of its own (its images in DynamoDB JSON, see
        ``plan_record``); returns the ids of the runs that started, or raises why it failed."""
        batch = DispatchBatch(self)
        batch.add(old_image, new_image, event_id)
        outcome = batch.finish()
        if event_id in outcome.failed:
            raise outcome.failed[event_id]
        return outcome.started.get(event_id, [])


class DispatchBatch:
    """One Lambda batch: ``add`` each record in order, then ``finish`` once."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._queued: list[_Queued] = []
        self._outcome = BatchOutcome()
        self._at: str | None = None  # when the batch's changes were kept (one time for all)

    def add(self, old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None, event_id: str) -> None:
        """Plan one record and do at once what cannot wait (cancelling, marking steps); its runs
        and run-log entries are queued for ``finish``. Raises when the record fails here."""
        d = self._dispatcher
        found = plan_record(old_image, new_image, event_id, d.automation_for)
        change, automation, plan = found.change, found.automation, found.plan
        # Kept for what-if: creations and stage entries as they are; an edit unless it rewrote bookkeeping alone.
        if (
            d.history is not None
            and new_image is not None
            and (old_image is None or change.entered is not None or touched(old_image, new_image))
        ):
            self._keep(d.history, change, old_image, new_image, event_id)
        if change.kind is ChangeKind.DELETED:
            if d.on_deleted is not None:
                self._start(lambda q: q.deal == (change.tenant_id, change.deal_id))
                d.on_deleted(change.tenant_id, change.deal_id)
            return
        if automation is None:
            return
        # Only a tenant with field–step workflows has steps to mark: the others skip reading the
        # deal as a model.
        if d.on_change is not None and automation.workflows:
            d.on_change(change, automation, event_id)
        # Only a tenant with wait_for nodes has waiting runs to look up: the others make no call.
        if d.on_waiting is not None and automation.index.waits_for_events:
            d.on_waiting(change, automation)
        if d.on_dates is not None and automation.index.dated:
            d.on_dates(change, automation)
        runs = plan.runs  # validated here: a request that cannot be read fails its own record
        # Enrollment is decided in the batch's order, record by record: of two records of one deal
        # in a batch, the first enrols, and the second finds it recorded.
        if automation.index.enrolling:
            runs, refused = admitted(d.enrollments, runs, automation.index.enrolling)
            if refused:
                d.log.refused(change, event_id, [(r.automation, why) for r, why in refused])
        if plan.loop_stopped:
            d.log.loop_stopped(change, event_id, plan.loop_stopped)
        if plan.not_started:
            d.log.not_started(change, event_id, plan.not_started)
        if plan.skipped:
            d.log.skipped(change, event_id, plan.skipped)
        deal = (change.tenant_id, change.deal_id)
        self._queued += [_Queued(event_id, deal, run) for run in runs]

    def _keep(
        self,
        history: ChangeHistory,
        change: DealChange,
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any],
        event_id: str,
    ) -> None:
        if self._at is None:
            self._at = now_iso()
        history.keep(RecordedChange(change.tenant_id, event_id, change.deal_id, self._at, old, new))

    def finish(self) -> BatchOutcome:
        """Start every queued run (together, when the starter can) and write the run-log entries
        and the changes kept for what-if; the outcome per record (history is best effort)."""
        self._start(lambda _: True)
        for event_id in self._dispatcher.log.flush():
            self._outcome.failed.setdefault(event_id, RunLogNotWritten("run-log entries not written"))
        if self._dispatcher.history is not None:
            self._dispatcher.history.flush()
        return self._outcome

    def _start(self, chosen: Callable[[_Queued], bool]) -> None:
        now = [q for q in self._queued if chosen(q)]
        if not now:
            return
        self._queued = [q for q in self._queued if not chosen(q)]
        outcome = self._outcome
        for queued, result in zip(now, start_each(self._dispatcher.starter, [q.run for q in now]), strict=True):
            if isinstance(result, Exception):
                outcome.failed.setdefault(queued.event_id, result)
            elif result:
                outcome.started.setdefault(queued.event_id, []).append(queued.run.run_id)
