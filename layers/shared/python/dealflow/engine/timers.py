"""The clock's side of automation: one shared tick a minute finds what is due (``Timers``), and
a queue worker pages through a tenant's items for a schedule's fire or a date trigger's arming.

Why one tick and a due-time table rather than an EventBridge Scheduler schedule per process:
schedules then come and go with saves on every path (API, import, copy, bulk, the harness)
without IAM to create schedules or pass a role at save time, and one table holds the two kinds of
timers — a schedule's next fire time, and one timer per item for a date trigger (thousands per
process, far past Scheduler's quotas per account if each were a schedule). The tick is due-time
ordered, so a minute it missed is caught up by the next. Durable: timers are DynamoDB items, so
a deploy or a cold start loses none.

- A save of a timed process asks to arm its tenant (``Timers.request_arm``); the tick then puts
  each schedule's next fire time and, for a date trigger armed for another spec (or never), queues
  an ``arm_dates`` job putting one timer per item whose date is still ahead.
- The dispatcher arms an item's timer when it is created or its date (or pipeline) changes
  (``DateArming``): only tenants with date triggers pay for it, one PutItem per change.
- A due schedule timer queues a ``fire`` job and puts the next fire time (fires it missed while
  the tick was down are one fire, not a storm); a due date timer starts its run at once.
  A timer whose process was switched off, deleted or saved with another spec, or whose item's
  date moved, is stale: dropped. Runs are named after their start (``timed_runs``), so a tick
  or a page done twice starts nothing twice.
- A process with an enrollment rule (re-enrollment off or after a cool-down, a frequency cap)
  admits scheduled and date-started runs as the dispatcher admits the others
  (``engine.enrollment``); a run it keeps out leaves a "not started" entry in the run log naming
  the rule.
- Lateness — when a run was started minus when it was due — is measured (``TimerLateness``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from dealflow.clock import now
from dealflow.engine.changes import ChangeKind, DealChange
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.enrollment import admitted, not_enrolled_entry
from dealflow.engine.run_starts import start_each
from dealflow.engine.timed_runs import (
    date_request,
    date_value,
    due_at,
    in_scope,
    next_fire_time,
    parse_utc,
    schedule_matches,
    scheduled_request,
    spec_of,
    utc_text,
)
from dealflow.model import Deal, RunRequest
from dealflow.model.process import BusinessProcess
from dealflow.model.timing import Timer, TimerJob
from dealflow.ports import EnrollmentBook, ItemPages, Metrics, RunLogBatches, RunStarter, TimerQueue, Timers

logger = logging.getLogger(__name__)

PAGE = 100  # items per page of a job; timers per read of the tick
TICK_READS = 20  # reads of due timers per tick at most (the rest is due at the next)


@dataclass
class Clockwork:
    """What the tick and the timer queue's worker need."""

    timers: Timers
    queue: TimerQueue
    load: Callable[[str], TenantAutomation]
    items: ItemPages
    starter: RunStarter
    metrics: Metrics | None = None
    enrollments: EnrollmentBook | None = None  # None: enrollment rules are not applied
    runs: RunLogBatches | None = None  # where runs kept out by an enrollment rule are logged


@dataclass
class TickReport:
    armed: int = 0
    fired: int = 0  # schedule fires queued
    started: int = 0  # date runs started
    not_enrolled: int = 0  # date runs an enrollment rule kept out
    stale: int = 0
    failed: int = 0
    left: bool = False  # due timers remain for the next tick


def _timed(known: TenantAutomation, automation_id: str | None) -> BusinessProcess | None:
    """The enabled, unflagged timed process a timer names; None when it is gone, off or broken."""
    found = known.by_id.get(automation_id or "")
    if not isinstance(found, BusinessProcess) or not found.timed or not found.enabled:
        return None
    return None if known.warnings.get(found.id) else found


def _late(work: Clockwork, kind: str, due: str) -> None:
    if work.metrics is not None:
        seconds = max(0.0, (now() - parse_utc(due)).total_seconds())
        work.metrics.measure("TimerLateness", seconds, "Seconds", kind=kind)


def tick(work: Clockwork, time_left: Callable[[], float] = lambda: math.inf, reserve: float = 0.0) -> TickReport:
    """Handle every timer due now, while time is left; what is left is due at the next tick. The
    date timers of each read start their runs together (concurrently, when the starter can): many
    contracts ending on one day must not start one after another."""
    report = TickReport()
    for _ in range(TICK_READS):
        if time_left() <= reserve:
            report.left = True
            break
        due = work.timers.due(utc_text(now()), PAGE)
        handled = 0
        dated: list[tuple[Timer, RunRequest]] = []
        for timer in due:
            if time_left() <= reserve:
                break
            if timer.kind == "date":
                handled += _plan_date(work, timer, report, dated)
            else:
                handled += _handle(work, timer, report)
        handled += _start_dated(work, dated, report)
        if len(due) < PAGE or handled == 0:
            break
    return report


def _handle(work: Clockwork, timer: Timer, report: TickReport) -> int:
    """Handle an arming request or a schedule's fire time; 1 when it was removed (done or stale),
    0 when it stays for a retry."""
    try:
        if timer.kind == "arm":
            arm(work, timer.tenant_id)
            report.armed += 1
        elif _fire(work, timer):
            report.fired += 1
        else:
            report.stale += 1
    except Exception:  # one tenant's trouble never holds up the others' timers
        logger.warning("timer %s of %s failed; it stays due", timer.kind, timer.tenant_id, exc_info=True)
        report.failed += 1
        return 0
    work.timers.remove(timer)
    return 1


def _plan_date(work: Clockwork, timer: Timer, report: TickReport, dated: list[tuple[Timer, RunRequest]]) -> int:
    """A due date timer's run, added to ``dated``; a stale timer is removed at once (1)."""
    try:
        found = _date_run(work, timer)
    except Exception:
        logger.warning("date timer of %s failed; it stays due", timer.tenant_id, exc_info=True)
        report.failed += 1
        return 0
    if found is None:
        work.timers.remove(timer)
        report.stale += 1
        return 1
    request, known = found
    try:
        if not _admit(work, known, [request]):
            work.timers.remove(timer)
            report.not_enrolled += 1
            return 1
    except Exception:
        logger.warning("date timer of %s: enrollment not decided; it stays due", timer.tenant_id, exc_info=True)
        report.failed += 1
        return 0
    dated.append((timer, request))
    return 0


def _admit(work: Clockwork, known: TenantAutomation, requests: list[RunRequest]) -> list[RunRequest]:
    """Of ``requests`` (of the tenant ``known``), those their process's enrollment rule lets start;
    the others are logged as not started, naming the rule. A request admitted before (a tick or a
    page done again) is admitted again: its run's name makes the start one."""
    if work.enrollments is None or not requests:
        return requests
    kept, refused = admitted(work.enrollments, requests, known.index.enrolling)
    if refused and work.runs is not None:
        unwritten = work.runs.write_all([not_enrolled_entry(run, reason) for run, reason in refused])
        if unwritten:  # the runs were rightly kept out: only their explanation is missing
            logger.warning("%d not-enrolled entries not written", len(unwritten))
    return kept


def _start_dated(work: Clockwork, dated: list[tuple[Timer, RunRequest]], report: TickReport) -> int:
    removed = 0
    for (timer, _), result in zip(dated, start_each(work.starter, [r for _, r in dated]), strict=True):
        if isinstance(result, Exception):  # it stays due: the next tick starts it, under the same name
            logger.warning("date run of %s not started: %s", timer.tenant_id, result)
            report.failed += 1
            continue
        if result:
            report.started += 1
            _late(work, "date", timer.due_at)
        work.timers.remove(timer)
        removed += 1
    return removed


def arm(work: Clockwork, tenant_id: str) -> None:
    """Put the tenant's schedules' next fire times; queue the date arming of each date trigger
    whose spec its items were not armed for (a process switched off, deleted or without its date
    trigger forgets its spec, so switching it on again arms its items again)."""
    known = work.load(tenant_id)
    armed = work.timers.armed(tenant_id)
    wanted: dict[str, str] = {}
    for automation in known.by_id.values():
        process = _timed(known, automation.id)
        if process is None:
            continue
        if process.on_date is not None:
            wanted[process.id] = spec_of(process)
        if process.schedule is not None:
            _next_schedule_timer(work, process, tenant_id, now())
    for automation_id in sorted(set(armed) | set(wanted)):
        spec = wanted.get(automation_id)
        if spec == armed.get(automation_id):
            continue
        work.timers.set_armed(tenant_id, automation_id, spec)
        if spec is not None:
            work.queue.enqueue(TimerJob(kind="arm_dates", tenant_id=tenant_id, automation_id=automation_id, spec=spec))


def _next_schedule_timer(work: Clockwork, process: BusinessProcess, tenant_id: str, after: datetime) -> None:
    fire = next_fire_time(process, after)
    if fire is not None:
        work.timers.put(
            Timer(
                kind="schedule",
                tenant_id=tenant_id,
                automation_id=process.id,
                due_at=utc_text(fire),
                spec=spec_of(process),
            )
        )


def _fire(work: Clockwork, timer: Timer) -> bool:
    known = work.load(timer.tenant_id)
    process = _timed(known, timer.automation_id)
    if process is None or process.schedule is None or spec_of(process) != timer.spec:
        return False
    assert timer.automation_id is not None and timer.spec is not None
    work.queue.enqueue(
        TimerJob(
            kind="fire",
            tenant_id=timer.tenant_id,
            automation_id=timer.automation_id,
            spec=timer.spec,
            fire_time=timer.due_at,
        )
    )
    _late(work, "schedule", timer.due_at)
    # After now, not after the fire time: fire times missed while the tick was down are one fire.
    _next_schedule_timer(work, process, timer.tenant_id, max(now(), parse_utc(timer.due_at)))
    return True


def _date_run(work: Clockwork, timer: Timer) -> tuple[RunRequest, TenantAutomation] | None:
    """The run a due date timer starts, and its tenant's automation; None when it is stale (the
    process is off, gone or saved with another trigger; the item is gone, elsewhere, or its date
    moved)."""
    known = work.load(timer.tenant_id)
    process = _timed(known, timer.automation_id)
    if process is None or process.on_date is None or spec_of(process) != timer.spec or timer.deal_id is None:
        return None
    item = work.items.get(timer.tenant_id, timer.deal_id)
    if item is None or not in_scope(process, item) or date_value(item, process.on_date) != timer.date_value:
        return None
    assert timer.date_value is not None
    return date_request(item, process, timer.date_value, timer.due_at), known


def date_timer(process: BusinessProcess, item: Deal, tenant_id: str, after: datetime) -> Timer | None:
    """The timer of an item's date trigger, when its date is set and its due time still ahead."""
    assert process.on_date is not None
    value = date_value(item, process.on_date)
    due = due_at(process.on_date, value) if value else None
    if due is None or due <= after or not in_scope(process, item):
        return None
    return Timer(
        kind="date",
        tenant_id=tenant_id,
        automation_id=process.id,
        deal_id=item.id,
        due_at=utc_text(due),
        spec=spec_of(process),
        date_value=value,
    )


@dataclass
class Turn:
    job: TimerJob
    done: bool
    started: list[str] = field(default_factory=list)


def work_job(
    work: Clockwork, job: TimerJob, time_left: Callable[[], float] = lambda: math.inf, reserve: float = 0.0
) -> Turn:
    """A worker's turn at a job: pages while time is left, then the job queued again from where it
    stands unless it is done. A page whose runs did not all start is queued again as it was: the
    ones that did start are not started twice."""
    known = work.load(job.tenant_id)
    process = _timed(known, job.automation_id)
    if process is None or spec_of(process) != job.spec:
        return Turn(job, done=True)  # saved since, off or gone: the new spec's own jobs do its work
    values = known.condition_values
    if job.kind == "fire":
        matches: Callable[[Deal], bool] = lambda item: schedule_matches(process, item, values)  # noqa: E731
    else:
        matches = lambda item: date_timer(process, item, job.tenant_id, now()) is not None  # noqa: E731
    equals = {"pipeline_id": process.pipeline_id} if process.pipeline_id else {}
    started: list[str] = []
    while time_left() > reserve:
        page = work.items.page(
            job.tenant_id, entity=process.entity, equals=equals, limit=PAGE, after=job.after, matches=matches
        )
        if job.kind == "fire":
            assert job.fire_time is not None
            requests = _admit(work, known, [scheduled_request(item, process, job.fire_time) for item in page.items])
            results = start_each(work.starter, requests)
            if any(isinstance(r, Exception) for r in results):
                work.queue.enqueue(job)
                return Turn(job, done=False, started=started)
            started += [r.run_id for r, ok in zip(requests, results, strict=True) if ok is True]
        else:
            for timer in _timers(process, page.items, job.tenant_id):
                work.timers.put(timer)
        job = job.model_copy(update={"after": page.after, "started": job.started + len(page.items)})
        if page.after is None:
            return Turn(job, done=True, started=started)
    work.queue.enqueue(job)
    return Turn(job, done=False, started=started)


def _timers(process: BusinessProcess, items: Iterable[Deal], tenant_id: str) -> list[Timer]:
    at = now()
    return [t for item in items if (t := date_timer(process, item, tenant_id, at)) is not None]


class DateArming:
    """The dispatcher's part: an item created, or its date field (or pipeline) changed, gets the
    timer of each date trigger watching that field. Called only for tenants with date triggers."""

    def __init__(self, timers: Timers) -> None:
        self._timers = timers

    def __call__(self, change: DealChange, known: TenantAutomation) -> None:
        if change.kind is ChangeKind.DELETED:
            return
        watched = known.index.dated
        changed = change.changed_fields
        moved = "pipeline_id" in changed or change.kind is ChangeKind.CREATED
        processes = {
            c.automation.id: c.automation for name, found in watched.items() if moved or name in changed for c in found
        }
        if not processes:
            return
        item = change.new
        assert item is not None
        at = now()
        for process in processes.values():
            if isinstance(process, BusinessProcess) and not known.warnings.get(process.id):
                timer = date_timer(process, item, change.tenant_id, at)
                if timer is not None:
                    self._timers.put(timer)
