"""Test mode: run any automation on a test deal or a real one, at once, sending and writing nothing.

It is the very interpreter real runs use, given ports that record instead of act: e-mails and
notifications are rendered and kept, deal writes happen to an in-memory copy, delays are noted and
skipped. The result is the run's step-by-step log (conditions with the values they saw, actions
with their rendered content, delays that would have been waited), stored as a test run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from dealflow import clock
from dealflow.engine.actions import Services
from dealflow.engine.changes import flat, tenant_facts
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.enrollment import would_refuse
from dealflow.engine.interpreter import execute_any
from dealflow.engine.run_ends import RunFailed
from dealflow.engine.run_failures import OPEN
from dealflow.engine.run_requests import run_request
from dealflow.engine.timed_runs import timing_step
from dealflow.language.conditions import compile_condition
from dealflow.model import BusinessProcess, Causation, Deal, RunRecord, RunRequest, RunStep, StageEntry, TypedValue
from dealflow.model.automation import AmbiguousPolicy
from dealflow.model.catalog import Automation
from dealflow.model.failures import RetryPolicy
from dealflow.model.run import RunStatus
from dealflow.ports import AssignmentTurns, AutomationSource, DealNotFound, DealStore, record_id

T = TypeVar("T")


@dataclass
class InlineDurable:
    """Steps run at once; waits are noted, not waited."""

    waits: list[tuple[str, int]] = field(default_factory=list)

    def step(self, name: str, fn: Callable[[], T], *, side_effect: bool = False, retry: RetryPolicy | None = None) -> T:
        return fn()

    @property
    def attempt(self) -> int:
        return 1

    def wait(self, name: str, seconds: int) -> None:
        self.waits.append((name, seconds))

    def callback(self, name: str, timeout_seconds: int) -> ImmediateEvent:
        self.waits.append((name, timeout_seconds))
        return ImmediateEvent()

    @property
    def execution_id(self) -> str:
        return "test-mode"

    def owns(self, error: Exception) -> bool:
        return False


class ImmediateEvent:
    """A wait_for in test mode: the event counts as come (an empty one), so the received branch
    is what the test shows; the run log says it would have waited, and up to when."""

    callback_id = "test-mode"

    def result(self) -> str | None:
        return "{}"


class DryRunDeals:
    """Reads through to the real deals once; every write lands in memory only."""

    def __init__(self, real: DealStore | None, *items: Deal) -> None:
        self._real = real
        self._items = {item.id: item for item in items}

    def get(self, tenant_id: str, deal_id: str) -> Deal | None:
        if deal_id not in self._items and self._real is not None:
            found = self._real.get(tenant_id, deal_id)
            if found is not None:
                self._items[deal_id] = found
        return self._items.get(deal_id)

    def require(self, tenant_id: str, deal_id: str) -> Deal:
        item = self.get(tenant_id, deal_id)
        if item is None:
            raise DealNotFound(f"deal '{deal_id}' not found")
        return item

    def apply(
        self, tenant_id: str, deal_id: str, change: Callable[[Deal], Deal], causation: Causation, effect_key: str
    ) -> tuple[Deal, bool]:
        current = self.require(tenant_id, deal_id)
        changed = change(current).model_copy(update={"version": current.version + 1, "caused_by": causation})
        self._items[deal_id] = changed
        return changed, True

    def create_if_absent(self, deal: Deal) -> bool:
        self._items[deal.id] = deal
        return True


class PassThroughLedger:
    def once(
        self, tenant_id: str, key: str, effect: Callable[[], dict[str, Any]], ambiguous: AmbiguousPolicy = "hold"
    ) -> dict[str, Any]:
        return effect()


class RecordingOutbox:
    """Mailer and notifier in one: keeps what would have gone out."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

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
        self.sent.append(
            {
                "kind": "email",
                "sender": sender,
                "sender_name": sender_name,
                "reply_to": reply_to,
                "to": to,
                "subject": subject,
                "body": body,
            }
        )
        return f"test-message-{len(self.sent)}"

    def notify(self, *, tenant_id: str, deal_id: str, user_ids: list[str], message: str) -> str:
        self.sent.append({"kind": "notification", "users": user_ids, "message": message})
        return f"test-message-{len(self.sent)}"


class DryRunRecords:
    def create_once(
        self, tenant_id: str, kind: str, effect_key: str, values: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        return {"id": record_id(effect_key), **values}, True


class CollectingRunLog:
    """The test run's log, in memory: the interpreter rewrites the run's record as it goes, and
    ``run_test`` stores the last one as the test run."""

    def __init__(self) -> None:
        self.last: RunRecord | None = None

    def write(self, record: RunRecord) -> None:
        self.last = record

    def _kept(self, tenant_id: str) -> list[RunRecord]:
        return [self.last] if self.last is not None and self.last.tenant_id == tenant_id else []

    def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        return next((r for r in self._kept(tenant_id) if r.run_id == run_id), None)

    def end(self, record: RunRecord) -> bool:
        current = self.get(record.tenant_id, record.run_id)
        if current is not None and current.status not in OPEN:
            return False
        self.write(record)
        return True

    def for_deal(self, tenant_id: str, deal_id: str, limit: int = 100) -> list[RunRecord]:
        return [r for r in self._kept(tenant_id) if r.deal_id == deal_id][:limit]

    def for_automation(self, tenant_id: str, automation_id: str, limit: int = 100) -> list[RunRecord]:
        return [r for r in self._kept(tenant_id) if r.automation_id == automation_id][:limit]


class ReadOnlyAutomation:
    """The real automation store for reading; a tenant variable set by a process stays in the test.

    The tested automation reads as stored and switched on, whatever it is in the store (a draft, a
    switched-off rule): test mode waits out no delay, so nothing can switch it off meanwhile.
    ``constants`` given replace the tenant's of those names (a saved test's own values)."""

    def __init__(
        self,
        real: AutomationSource[TenantAutomation],
        tested: Automation,
        constants: Mapping[str, TypedValue] | None = None,
    ) -> None:
        self._real = real
        self._given = tested  # what the test run loads: given, or stored, it need not be saved
        self._tested = tested.model_copy(update={"enabled": True})
        self._constants = dict(constants or {})

    def versions(self, tenant_id: str, automation_id: str, version: int) -> list[Automation]:
        if automation_id == self._given.id:
            return [self._given]
        return list(self._real.versions(tenant_id, automation_id, version))

    def load(self, tenant_id: str) -> TenantAutomation:
        compiled = self._real.load(tenant_id)
        if self._constants:
            tenant = compiled.tenant
            compiled = replace(
                compiled, tenant=tenant.model_copy(update={"constants": {**tenant.constants, **self._constants}})
            )
        return replace(compiled, by_id={**compiled.by_id, self._tested.id: self._tested})

    def set_variable(self, tenant_id: str, name: str, value: object) -> None:
        return None


class PeekTurns:
    """The assign action's turns as they stand: a test run takes none, so it shows who the next
    real assignment would go to without moving anyone's turn."""

    def __init__(self, real: AssignmentTurns | None) -> None:
        self._real = real

    def take(self, tenant_id: str, pool: str, effect_key: str) -> int:
        return self._real.peek(tenant_id, pool) if self._real is not None else 1

    def peek(self, tenant_id: str, pool: str) -> int:
        return self.take(tenant_id, pool, "")


def _as_entered(deal: Deal, automation: Automation) -> Deal:
    """A rule or tunnel is tested as if the deal had just entered its stage."""
    if isinstance(automation, BusinessProcess) or automation.kind == "trigger":
        return deal
    return deal.model_copy(update={"pipeline_id": automation.pipeline_id, "stage_id": automation.stage_id})


@dataclass(frozen=True)
class DryRun:
    """What a test-mode run did: its log (``record``), what it would have sent (e-mails and
    notifications as the outbox kept them) and the deal as it would be after it."""

    record: RunRecord
    sent: list[dict[str, Any]]
    deal_after: Deal | None


def dry_run(
    automation: Automation,
    deal: Deal,
    services: Services,
    constants: Mapping[str, TypedValue] | None = None,
    request: RunRequest | None = None,
    entry: RunStep | None = None,
) -> DryRun:
    """Run ``automation`` on ``deal`` in test mode and keep nothing: the run as ``run_test`` shows
    it, with the outbox and the deal after it (saved tests assert on them). What-if gives the
    ``request`` the dispatcher planned for a real change (its stage entry and the values before the
    change) and the ``entry`` step of the condition it checked; without them the run is test
    mode's: the deal as if it had just entered the automation's stage."""
    if request is None:
        deal = _as_entered(deal, automation)
    outbox, log = RecordingOutbox(), CollectingRunLog()
    reading = ReadOnlyAutomation(services.automation, automation, constants)
    deals = DryRunDeals(services.deals, deal)
    dry = replace(
        services,
        automation=reading,
        runs=log,
        deals=deals,
        ledger=PassThroughLedger(),
        records=DryRunRecords(),
        mailer=outbox,
        notifier=outbox,
        waiters=None,
        dry_run=True,  # an http_request shows the request it would send
        turns=PeekTurns(services.turns),
    )
    run_id = f"test-{uuid.uuid4().hex[:24]}"
    if request is None:
        entered = StageEntry(pipeline_id=deal.pipeline_id, stage_id=deal.stage_id, event="test")
        started_by = entered.model_dump(exclude_none=True)
        request = run_request(deal, automation, f"test:{run_id}", started_by, run_id=run_id)
    else:
        request = request.model_copy(update={"run_id": run_id})
    durable = InlineDurable()  # its waits are the "delay" steps the run records
    tenant_values = tenant_facts(reading.load(deal.tenant_id).tenant)
    if entry is None:
        entry = _entry_condition(automation, deal, tenant_values)
    # A process the clock starts: when it would run for this item (or why not) comes first.
    timing = (
        timing_step(automation, deal, tenant_values, clock.now()) if isinstance(automation, BusinessProcess) else None
    )
    enrolled = _enrollment(automation, deal, services)
    error: str | None = None
    if timing is not None and timing.outcome != "passed":
        entry = timing
        timing = None
    if enrolled is not None and enrolled.outcome == "would not start":
        log.last = _not_run(automation, deal, request, "not_started", f"would not start: {enrolled.detail['reason']}")
    elif entry.outcome == "passed":
        try:
            execute_any(request, durable, dry)
        except RunFailed as exc:
            error = str(exc)
    record = log.last or _not_run(
        automation, deal, request, "skipped", entry.detail.get("why", "the condition does not hold")
    )
    # Delays were noted, not waited: say so where each one stands in the run.
    steps = [
        entry,
        *([timing] if timing is not None else []),
        *([enrolled] if enrolled is not None else []),
        *[_as_tested(s) for s in record.steps],
    ]
    shown = record.model_copy(update={"test": True, "steps": steps, "reason": record.reason or error})
    return DryRun(shown, outbox.sent, deals.get(deal.tenant_id, deal.id))


def _not_run(automation: Automation, deal: Deal, request: RunRequest, status: RunStatus, reason: str) -> RunRecord:
    return RunRecord(
        tenant_id=deal.tenant_id,
        run_id=request.run_id,
        automation_id=automation.id,
        automation_name=automation.name,
        automation_kind=automation.kind,
        deal_id=deal.id,
        event_id=request.event_id,
        started_by=request.started_by.model_dump(mode="json", exclude_none=True),
        status=status,
        reason=reason,
        started_at=clock.now_iso(),
        finished_at=clock.now_iso(),
    )


def run_test(automation: Automation, deal: Deal, services: Services) -> RunRecord:
    """Run ``automation`` on ``deal`` in test mode; returns the stored test run."""
    stored = dry_run(automation, deal, services).record
    services.runs.write(stored)
    return stored


def _enrollment(automation: Automation, deal: Deal, services: Services) -> RunStep | None:
    """What the automation's enrollment rule would say if the deal started it now (None: it has
    none). Read, never recorded: a test run enrols nobody."""
    policy = automation.enrollment
    if policy is None or not policy.limits:
        return None
    reason = would_refuse(services.enrollments, deal.tenant_id, automation, deal.id)
    rule = policy.model_dump(mode="json", exclude_none=True)
    detail = {"rule": rule} if reason is None else {"rule": rule, "reason": reason}
    outcome = "would start" if reason is None else "would not start"
    return RunStep(name="enrollment", kind="check", outcome=outcome, at=clock.now_iso(), detail=detail)


def _as_tested(step: RunStep) -> RunStep:
    """A step as test mode tells it: a wait noted (``would wait until Mon 2026-03-30 09:00
    Europe/Warsaw`` when it counts working time; a wait_for: for what, up to how long, and which
    branch the test took), a request not sent, an assignment made on paper."""
    if _waited(step):
        detail = step.detail
        if "waiting_for" in detail:
            detail = {k: v for k, v in detail.items() if k != "event"}
            detail["then"] = "received (test mode counts the event as come, with no data)"
            detail["summary"] = f"would wait for {detail['waiting_for']} up to {detail['timeout']}"
        elif until := detail.get("until"):
            detail = {**detail, "would": f"would wait until {until}"}
        return step.model_copy(update={"outcome": "would wait", "detail": detail})
    if step.kind == "action" and step.detail.get("would_send"):
        return step.model_copy(update={"outcome": "would send"})
    if step.kind == "action" and "assigned_to" in step.detail:
        who = f"{step.detail.get('name')} ({step.detail['assigned_to']})"
        return step.model_copy(update={"detail": {**step.detail, "would": f"would assign to {who}"}})
    return step


def _waited(step: RunStep) -> bool:
    return step.kind == "wait" and step.outcome in ("waited", "received")


def _entry_condition(automation: Automation, deal: Deal, tenant_values: dict[str, Any]) -> RunStep:
    trace: list[dict[str, Any]] = []
    holds = compile_condition(automation.condition)({**(flat(deal) or {}), **tenant_values}, None, trace)
    return RunStep(
        name="condition",
        kind="condition",
        outcome="passed" if holds else "not met",
        at=clock.now_iso(),
        detail={"conditions": trace},
    )
