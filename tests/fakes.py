"""In-memory fakes of the ports in ``dealflow.ports``, for unit tests that run in milliseconds.

Each block below serves one part of the package and is headed as such; add yours as a block of
its own. The fakes keep the promises the ports make (exactly once per effect key, a record id
derived from its effect, a step result that must survive JSON), so a test that passes on them
tests the engine, not the fake.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from dealflow.engine.actions import Services
from dealflow.engine.compiled import TenantAutomation, compile_tenant
from dealflow.engine.interpreter import RunFailed, execute_any
from dealflow.engine.testmode import InlineDurable, RecordingOutbox
from dealflow.model import Causation, Deal, Pipeline, RunRecord, RunRequest, Tenant, TypedValue
from dealflow.model.catalog import Automation
from dealflow.model.fields import FieldDefinition
from dealflow.ports import DealNotFound, ExecutionFacts, record_id

T = TypeVar("T")

# ─────────────────────────────────────────────────────────────────────────────────────────────────
# The engine: the stores, mailer, notifier and durable steps one run goes through (interpreter)
# ─────────────────────────────────────────────────────────────────────────────────────────────────


class FakeDeals:
    """``DealStore``: deals and leads by id; an automation write lands once per effect key."""

    def __init__(self, *items: Deal) -> None:
        self.items: dict[str, Deal] = {item.id: item for item in items}
        self.effects: dict[str, str] = {}  # effect key → the deal it changed

    def get(self, tenant_id: str, deal_id: str) -> Deal | None:
        item = self.items.get(deal_id)
        return item if item is not None and item.tenant_id == tenant_id else None

    def require(self, tenant_id: str, deal_id: str) -> Deal:
        item = self.get(tenant_id, deal_id)
        if item is None:
            raise DealNotFound(f"deal '{deal_id}' not found")
        return item

    def apply(
        self, tenant_id: str, deal_id: str, change: Callable[[Deal], Deal], causation: Causation, effect_key: str
    ) -> tuple[Deal, bool]:
        current = self.require(tenant_id, deal_id)
        if effect_key in self.effects:
            return current, False
        changed = change(current).model_copy(update={"version": current.version + 1, "caused_by": causation})
        self.items[deal_id] = changed
        self.effects[effect_key] = deal_id
        return changed, True

    def create_if_absent(self, deal: Deal) -> bool:
        if deal.id in self.items:
            return False
        self.items[deal.id] = deal
        return True

    def put(self, deal: Deal) -> None:
        """A person's write: the deal as given, one version up."""
        self.items[deal.id] = deal.model_copy(update={"version": deal.version + 1, "caused_by": None})

    def delete(self, deal_id: str) -> None:
        self.items.pop(deal_id, None)


class FakeLedger:
    """``EffectLedger``: an effect runs once per key; a repeat reports the first outcome as a duplicate."""

    def __init__(self) -> None:
        self.done: dict[str, dict[str, Any]] = {}

    def once(self, tenant_id: str, key: str, effect: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if key in self.done:
            return {**self.done[key], "duplicate": True}
        self.done[key] = effect()
        return self.done[key]


class FakeRecords:
    """``RecordStore``: workgroups and tasks, each with the id its effect key gives it."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def create_once(
        self, tenant_id: str, kind: str, effect_key: str, values: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        key = (kind, record_id(effect_key))
        if key in self.items:
            return self.items[key], False
        self.items[key] = {"id": record_id(effect_key), **values}
        return self.items[key], True

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [values for (k, _), values in self.items.items() if k == kind]


class FakeRunLog:
    """``RunLog``: the latest record of each run, and every write in order (to see a run as it went)."""

    def __init__(self) -> None:
        self.records: dict[str, RunRecord] = {}
        self.writes: list[RunRecord] = []

    def write(self, record: RunRecord) -> None:
        self.records[record.run_id] = record
        self.writes.append(record)

    def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        found = self.records.get(run_id)
        return found if found is not None and found.tenant_id == tenant_id else None

    def end(self, record: RunRecord) -> bool:
        current = self.get(record.tenant_id, record.run_id)
        if current is not None and current.status not in ("running", "waiting"):
            return False
        self.write(record)
        return True

    def for_deal(self, tenant_id: str, deal_id: str, limit: int = 100) -> list[RunRecord]:
        return [r for r in self.records.values() if (r.tenant_id, r.deal_id) == (tenant_id, deal_id)][:limit]

    def for_automation(self, tenant_id: str, automation_id: str, limit: int = 100) -> list[RunRecord]:
        found = [r for r in self.records.values() if (r.tenant_id, r.automation_id) == (tenant_id, automation_id)]
        return found[:limit]

    def statuses(self, run_id: str) -> list[str]:
        """The statuses one run's record went through, without repeats in a row."""
        seen: list[str] = []
        for record in self.writes:
            if record.run_id == run_id and (not seen or seen[-1] != record.status):
                seen.append(record.status)
        return seen


class FakeAutomation:
    """``AutomationSource``: one tenant's definitions, compiled as the real store compiles them."""

    def __init__(
        self,
        tenant: Tenant,
        pipelines: Iterable[Pipeline] = (),
        fields: Iterable[FieldDefinition] = (),
        automation: Iterable[Automation] = (),
    ) -> None:
        self.tenant = tenant
        self.definitions: dict[str, list[Any]] = {"PIPELINE": list(pipelines), "FIELD": list(fields)}
        for item in automation:
            self.put(item)

    def put(self, automation: Automation) -> None:
        kind = automation.kind.upper() if automation.kind != "business_process" else "PROCESS"
        rest = [a for a in self.definitions.get(kind, []) if a.id != automation.id]
        self.definitions[kind] = [*rest, automation]

    def switch(self, automation_id: str, enabled: bool) -> None:
        for kind, items in self.definitions.items():
            self.definitions[kind] = [
                i.model_copy(update={"enabled": enabled}) if getattr(i, "id", None) == automation_id else i
                for i in items
            ]

    def load(self, tenant_id: str) -> TenantAutomation:
        assert tenant_id == self.tenant.id, f"no tenant '{tenant_id}'"
        return compile_tenant(self.tenant, self.definitions)

    def set_variable(self, tenant_id: str, name: str, value: object) -> None:
        known = self.tenant.variables.get(name)
        typed = TypedValue.model_validate({"type": known.type, "value": value} if known else value)
        self.tenant = self.tenant.model_copy(update={"variables": {**self.tenant.variables, name: typed}})


class Suspended(BaseException):
    """The fake durable engine parks the run at a wait (a BaseException, as the real one's is)."""


class GaveUp(RuntimeError):
    """What the fake durable engine raises for a step it was told to give up on."""


@dataclass
class FakeDurable(InlineDurable):
    """``Durable``: steps run inline and their results go through JSON, as a checkpoint's do.

    It records every operation (``operations``: ("step" | "wait", name)) and every wait. With
    ``suspend_at_waits`` it parks the run at a wait it has not passed before; ``replay()`` gives the
    engine of the next invocation, which hands back the checkpointed results in order, refuses an
    operation whose name differs from the checkpoint's, and runs on from there. ``give_up`` names
    steps that fail as if their retries were spent."""

    suspend_at_waits: bool = False
    give_up: set[str] = field(default_factory=set)
    operations: list[tuple[str, str]] = field(default_factory=list)
    checkpoints: list[tuple[str, str, Any]] = field(default_factory=list)
    _replaying: int = 0

    def _replayed(self, kind: str, name: str) -> tuple[bool, Any]:
        position = len(self.operations)
        self.operations.append((kind, name))
        if position >= self._replaying:
            return False, None
        checkpoint = self.checkpoints[position]
        assert checkpoint[:2] == (kind, name), f"not deterministic: {(kind, name)} replayed as {checkpoint[:2]}"
        return True, json.loads(json.dumps(checkpoint[2]))

    def step(self, name: str, fn: Callable[[], T], *, side_effect: bool = False) -> T:
        replayed, result = self._replayed("step", name)
        if replayed:
            return result  # type: ignore[no-any-return]
        if name in self.give_up:
            raise GaveUp(f"gave up after 4 attempts: {name} kept failing")
        outcome = json.loads(json.dumps(fn()))  # a step's result must survive its checkpoint
        self.checkpoints.append(("step", name, outcome))
        return outcome  # type: ignore[no-any-return]

    def wait(self, name: str, seconds: int) -> None:
        replayed, _ = self._replayed("wait", name)
        if replayed:
            return
        self.waits.append((name, seconds))
        self.checkpoints.append(("wait", name, None))
        if self.suspend_at_waits:
            raise Suspended(name)

    def replay(self) -> FakeDurable:
        """The next invocation: everything checkpointed so far is replayed, not run."""
        return replace(
            self,
            waits=list(self.waits),
            operations=[],
            checkpoints=list(self.checkpoints),
            _replaying=len(self.checkpoints),
        )

    @property
    def step_names(self) -> list[str]:
        return [name for kind, name in self.operations if kind == "step"]


@dataclass
class FakeEngine:
    """Everything a run needs, in memory; ``run`` runs one request to its end (or its first wait)."""

    automation: FakeAutomation
    deals: FakeDeals = field(default_factory=FakeDeals)
    runs: FakeRunLog = field(default_factory=FakeRunLog)
    ledger: FakeLedger = field(default_factory=FakeLedger)
    records: FakeRecords = field(default_factory=FakeRecords)
    outbox: RecordingOutbox = field(default_factory=RecordingOutbox)

    @property
    def services(self) -> Services:
        return Services(
            automation=self.automation,
            runs=self.runs,
            deals=self.deals,
            ledger=self.ledger,
            records=self.records,
            mailer=self.outbox,
            notifier=self.outbox,
            sender="crm@example.com",
        )

    def run(self, request: RunRequest, durable: FakeDurable | None = None) -> tuple[RunRecord, FakeDurable]:
        """Run ``request``; a run that fails is no error here: its record says so."""
        durable = durable or FakeDurable()
        with contextlib.suppress(RunFailed, Suspended):
            execute_any(request, durable, self.services)
        return self.runs.records[request.run_id], durable


# ─────────────────────────────────────────────────────────────────────────────────────────────────
# Run failures: what the durable engine still knows of an execution that ended (run_failures)
# ─────────────────────────────────────────────────────────────────────────────────────────────────


@dataclass
class FakeExecutions:
    """``Executions``: ended executions by id, with the request each was started with."""

    known: dict[str, ExecutionFacts] = field(default_factory=dict)

    def describe(self, execution_id: str) -> ExecutionFacts | None:
        return self.known.get(execution_id)
