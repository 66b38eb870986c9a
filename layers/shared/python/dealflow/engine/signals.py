"""What the functions count, as decorators of the ports they already use: a run starter that counts
the runs it started, a dispatch log that counts what did not start, a mailer, notifier, deal store
and record store that count the effects they performed. The composition root (``dealflow.runtime``)
wraps the real ports in them, so the engine itself never calls the metrics port and knows nothing
of how metrics are published (``dealflow.aws.metrics`` on AWS, a recorder in the tests).

An effect is counted where it happens, after the effect ledger let it through: a redelivered record
or a replayed step that finds its effect done counts nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dealflow.engine.run_starts import Started, start_each

if TYPE_CHECKING:  # the dispatcher imports this module: no models at import (cold start)
    from dealflow.engine.actions import Services
    from dealflow.engine.changes import DealChange
    from dealflow.engine.compiled import CompiledAutomation
    from dealflow.engine.dispatch import NotStarted
    from dealflow.engine.dispatcher import DispatcherLog
    from dealflow.model import Causation, Deal, RunRequest
    from dealflow.ports import (
        DealStore,
        HttpReply,
        HttpSender,
        Mailer,
        Metrics,
        Notifier,
        OutgoingRequest,
        RecordStore,
        RunStarter,
    )

# The metric names (README, "Operate"), in one place for the handlers and the template's alarms.
RUNS_STARTED = "RunsStarted"
RUNS_NOT_STARTED = "RunsNotStarted"
RUNS_LOOP_STOPPED = "RunsLoopStopped"
RUNS_SKIPPED = "RunsSkipped"  # automation with broken references, not started
RUNS_COMPLETED = "RunsCompleted"
RUNS_FAILED = "RunsFailed"
RUNS_STOPPED = "RunsStopped"  # a check ended it: skipped, stopped or cancelled (the outcome)
EFFECTS = "Effects"
DISPATCHER_LAG = "DispatcherLag"


def count_run_end(metrics: Metrics, kind: str, status: str) -> None:
    """A run that ended, by the status its record ended with."""
    if status == "completed":
        metrics.count(RUNS_COMPLETED, kind=kind)
    elif status == "failed":
        metrics.count(RUNS_FAILED, kind=kind)
    else:
        metrics.count(RUNS_STOPPED, kind=kind, outcome=status)


class CountedStarter:
    """A run starter that counts the runs that really started (not a name started before)."""

    def __init__(self, starter: RunStarter, metrics: Metrics) -> None:
        self._starter, self._metrics = starter, metrics

    def start(self, request: RunRequest) -> bool:
        started = self._starter.start(request)
        if started:
            self._metrics.count(RUNS_STARTED, kind=request.automation.kind)
        return started

    def start_all(self, requests: Sequence[RunRequest]) -> list[Started]:
        started = start_each(self._starter, requests)  # concurrently, when the starter can
        for request, ok in zip(requests, started, strict=True):
            if ok is True:
                self._metrics.count(RUNS_STARTED, kind=request.automation.kind)
        return started

    def stop(self, execution_id: str) -> bool:
        return self._starter.stop(execution_id)

    def resume(self, callback_id: str, payload: str) -> bool:
        resumer: Any = self._starter  # the starters the runtime wraps resume runs too
        return bool(resumer.resume(callback_id, payload))


class CountedDispatchLog:
    """The dispatcher's log, counting every entry: not-started ones too, which the run log samples."""

    def __init__(self, log: DispatcherLog, metrics: Metrics) -> None:
        self._log, self._metrics = log, metrics

    def _count(self, name: str, automation: Sequence[Any]) -> None:
        # Summed per kind first: a record can leave a dozen rules not started, one count call each
        # cost more than the rest of their entries.
        by_kind: dict[str, int] = {}
        for one in automation:
            by_kind[one.kind] = by_kind.get(one.kind, 0) + 1
        for kind, value in by_kind.items():
            self._metrics.count(name, value, kind=kind)

    def loop_stopped(self, change: DealChange, event_id: str, stopped: Sequence[CompiledAutomation]) -> None:
        self._count(RUNS_LOOP_STOPPED, [c.automation for c in stopped])
        self._log.loop_stopped(change, event_id, stopped)

    def not_started(self, change: DealChange, event_id: str, entries: Sequence[NotStarted]) -> None:
        self._count(RUNS_NOT_STARTED, [e.automation for e in entries])
        self._log.not_started(change, event_id, entries)

    def skipped(self, change: DealChange, event_id: str, entries: Sequence[dict[str, Any]]) -> None:
        self._count(RUNS_SKIPPED, [e["automation"] for e in entries])
        self._log.skipped(change, event_id, entries)

    def refused(self, change: DealChange, event_id: str, entries: Sequence[tuple[Any, str]]) -> None:
        self._count(RUNS_NOT_STARTED, [automation for automation, _ in entries])
        self._log.refused(change, event_id, entries)

    def flush(self) -> set[str]:
        return self._log.flush()


class CountedMailer:
    def __init__(self, mailer: Mailer, metrics: Metrics) -> None:
        self._mailer, self._metrics = mailer, metrics

    def send(
        self,
        *,
        sender: str,
        to: list[str],
        subject: str,
        body: str,
        sender_name: str | None = None,
        reply_to: str | None = None,
    ) -> str:
        message_id = self._mailer.send(
            sender=sender, to=to, subject=subject, body=body, sender_name=sender_name, reply_to=reply_to
        )
        self._metrics.count(EFFECTS, effect="email")
        return message_id


class CountedNotifier:
    def __init__(self, notifier: Notifier, metrics: Metrics) -> None:
        self._notifier, self._metrics = notifier, metrics

    def notify(self, *, tenant_id: str, deal_id: str, user_ids: list[str], message: str) -> str:
        message_id = self._notifier.notify(tenant_id=tenant_id, deal_id=deal_id, user_ids=user_ids, message=message)
        self._metrics.count(EFFECTS, effect="notification")
        return message_id


class CountedHttp:
    """Requests ``http_request`` actions sent that the other side took (a 2xx answer); a refused
    or failed try is in the run's delivery log, not an effect."""

    def __init__(self, http: HttpSender, metrics: Metrics) -> None:
        self._http, self._metrics = http, metrics

    def send(self, request: OutgoingRequest) -> HttpReply:
        reply = self._http.send(request)
        if 200 <= reply.status < 300:
            self._metrics.count(EFFECTS, effect="http_request")
        return reply


class CountedDeals:
    """Deal writes by automation: field updates, stage and pipeline moves, a tunnel's copies."""

    def __init__(self, deals: DealStore, metrics: Metrics) -> None:
        self._deals, self._metrics = deals, metrics

    def get(self, tenant_id: str, deal_id: str) -> Deal | None:
        return self._deals.get(tenant_id, deal_id)

    def require(self, tenant_id: str, deal_id: str) -> Deal:
        return self._deals.require(tenant_id, deal_id)

    def apply(
        self, tenant_id: str, deal_id: str, change: Callable[[Deal], Deal], causation: Causation, effect_key: str
    ) -> tuple[Deal, bool]:
        deal, applied = self._deals.apply(tenant_id, deal_id, change, causation, effect_key)
        if applied:
            self._metrics.count(EFFECTS, effect="deal_write")
        return deal, applied

    def create_if_absent(self, deal: Deal) -> bool:
        created = self._deals.create_if_absent(deal)
        if created:
            self._metrics.count(EFFECTS, effect="deal_write")
        return created


class CountedRecords:
    """Workgroups and tasks, by their kind."""

    def __init__(self, records: RecordStore, metrics: Metrics) -> None:
        self._records, self._metrics = records, metrics

    def create_once(
        self, tenant_id: str, kind: str, effect_key: str, values: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        record, made = self._records.create_once(tenant_id, kind, effect_key, values)
        if made:
            self._metrics.count(EFFECTS, effect=kind)
        return record, made


def counted_services(services: Services, metrics: Metrics) -> Services:
    """The runner's services with every effect counted."""
    return dataclasses.replace(
        services,
        deals=CountedDeals(services.deals, metrics),
        records=CountedRecords(services.records, metrics),
        mailer=CountedMailer(services.mailer, metrics),
        notifier=CountedNotifier(services.notifier, metrics),
        http=CountedHttp(services.http, metrics) if services.http is not None else None,
    )
