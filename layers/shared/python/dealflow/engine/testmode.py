"""Test mode: run any automation on a test deal or a real one, at once, sending and writing nothing.

It is the very interpreter real runs use, given ports that record instead of act: e-mails and
notifications are rendered and kept, deal writes happen to an in-memory copy, delays are noted and
skipped. The result is the run's step-by-step log (conditions with the values they saw, actions
with their rendered content, delays that would have been waited), stored as a test run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from dealflow import clock
from dealflow.engine.actions import Services
from dealflow.engine.changes import flat, tenant_facts
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.interpreter import RunFailed, execute_any
from dealflow.engine.run_failures import OPEN
from dealflow.engine.run_requests import run_request
from dealflow.language.conditions import compile_condition
from dealflow.model import BusinessProcess, Causation, Deal, RunRecord, RunRequest, RunStep, StageEntry
from dealflow.model.automation import AmbiguousPolicy
from dealflow.model.catalog import Automation
from dealflow.model.failures import RetryPolicy
from dealflow.ports import AutomationSource, DealNotFound, DealStore, record_id

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

    @property
    def execution_id(self) -> str:
        return "test-mode"

    def owns(self, error: Exception) -> bool:
        return False


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
    switched-off rule): test mode waits out no delay, so nothing can switch it off meanwhile."""

    def __init__(self, real: AutomationSource, tested: Automation) -> None:
        self._real = real
        self._given = tested  # what the test run loads: given, or stored, it need not be saved
        self._tested = tested.model_copy(update={"enabled": True})

    def versions(self, tenant_id: str, automation_id: str, version: int) -> list[Automation]:
        if automation_id == self._given.id:
            return [self._given]
        return list(self._real.versions(tenant_id, automation_id, version))

    def load(self, tenant_id: str) -> TenantAutomation:
        compiled = self._real.load(tenant_id)
        return replace(compiled, by_id={**compiled.by_id, self._tested.id: self._tested})

    def set_variable(self, tenant_id: str, name: str, value: object) -> None:
        return None


def _as_entered(deal: Deal, automation: Automation) -> Deal:
    """A rule or tunnel is tested as if the deal had just entered its stage."""
    if isinstance(automation, BusinessProcess) or automation.kind == "trigger":
        return deal
    return deal.model_copy(update={"pipeline_id": automation.pipeline_id, "stage_id": automation.stage_id})


def run_test(automation: Automation, deal: Deal, services: Services) -> RunRecord:
    """Run ``automation`` on ``deal`` in test mode; returns the stored test run."""
    stored = dry_run(automation, deal, services)
    services.runs.write(stored)
    return stored


def dry_run(
    automation: Automation,
    deal: Deal,
    services: Services,
    request: RunRequest | None = None,
    entry: RunStep | None = None,
) -> RunRecord:
    """Run ``automation`` on ``deal`` in test mode and return the run, storing nothing. What-if
    gives the ``request`` the dispatcher planned for a real change (its stage entry and the values
    before the change) and the ``entry`` step of the condition it checked; without them the run is
    test mode's: the deal as if it had just entered the automation's stage."""
    if request is None:
        deal = _as_entered(deal, automation)
    outbox, log = RecordingOutbox(), CollectingRunLog()
    dry = replace(
        services,
        automation=ReadOnlyAutomation(services.automation, automation),
        runs=log,
        deals=DryRunDeals(services.deals, deal),
        ledger=PassThroughLedger(),
        records=DryRunRecords(),
        mailer=outbox,
        notifier=outbox,
    )
    run_id = f"test-{uuid.uuid4().hex[:24]}"
    if request is None:
        entered = StageEntry(pipeline_id=deal.pipeline_id, stage_id=deal.stage_id, event="test")
        started_by = entered.model_dump(exclude_none=True)
        request = run_request(deal, automation, f"test:{run_id}", started_by, run_id=run_id)
    else:
        request = request.model_copy(update={"run_id": run_id})
    durable = InlineDurable()  # its waits are the "delay" steps the run records
    if entry is None:
        entry = _entry_condition(automation, deal, tenant_facts(services.automation.load(deal.tenant_id).tenant))
    error: str | None = None
    if entry.outcome == "passed":
        try:
            execute_any(request, durable, dry)
        except RunFailed as exc:
            error = str(exc)
    record = log.last or RunRecord(
        tenant_id=deal.tenant_id,
        run_id=run_id,
        automation_id=automation.id,
        automation_name=automation.name,
        automation_kind=automation.kind,
        deal_id=deal.id,
        event_id=request.event_id,
        started_by=request.started_by.model_dump(mode="json", exclude_none=True),
        status="skipped",
        reason="the condition does not hold",
        started_at=clock.now_iso(),
        finished_at=clock.now_iso(),
    )
    # Delays were noted, not waited: say so where each one stands in the run.
    steps = [entry, *[s.model_copy(update={"outcome": "would wait"}) if _waited(s) else s for s in record.steps]]
    return record.model_copy(update={"test": True, "steps": steps, "reason": record.reason or error})


def _waited(step: RunStep) -> bool:
    return step.kind == "wait" and step.outcome == "waited"


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
