"""In-memory fakes of the ports in ``dealflow.ports``, for unit tests that run in milliseconds.

Each block below serves one part of the package and is headed as such; add yours as a block of
its own. The fakes keep the promises the ports make (exactly once per effect key, a record id
derived from its effect, a step result that must survive JSON), so a test that passes on them
tests the engine, not the fake.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from dealflow.authoring.checks import AUTOMATION
from dealflow.aws.adapters import failure_class
from dealflow.engine.actions import Services
from dealflow.engine.compiled import TenantAutomation, compile_tenant
from dealflow.engine.interpreter import execute_any
from dealflow.engine.run_ends import RunFailed
from dealflow.engine.testmode import InlineDurable, RecordingOutbox
from dealflow.http_errors import PayloadTooLarge
from dealflow.model import Causation, Deal, Pipeline, Role, Rule, RunRecord, RunRequest, Tenant, TypedValue, User
from dealflow.model.cancellation import CancellationJob
from dealflow.model.catalog import STORED_KINDS, Automation, Definition
from dealflow.model.failures import DEFAULT_RETRY, RetryPolicy
from dealflow.model.fields import FieldDefinition, FieldKind
from dealflow.model.timing import Timer, TimerJob
from dealflow.model.versions import VersionNote
from dealflow.model.workflow import FieldStepWorkflow
from dealflow.ports import ANY, MAX_WRITES, AmbiguousOutcome, DealNotFound, ExecutionFacts, record_id

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

    def once(
        self, tenant_id: str, key: str, effect: Callable[[], dict[str, Any]], ambiguous: str = "hold"
    ) -> dict[str, Any]:
        if key in self.done:
            return {**self.done[key], "duplicate": True}
        try:
            self.done[key] = effect()
        except AmbiguousOutcome as exc:
            if ambiguous == "retry":
                raise
            self.done[key] = {"status": "unconfirmed", "reason": str(exc)}
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
    """``RunLog`` (and ``WaitingRuns``): the latest record of each run, and every write in order (to
    see a run as it went)."""

    def __init__(self) -> None:
        self.records: dict[str, RunRecord] = {}
        self.writes: list[RunRecord] = []
        self.cancelled_by: dict[str, str] = {}  # run id → the cancellation job that marked it

    def cancellable(
        self,
        tenant_id: str,
        *,
        job_id: str,
        deal_id: str | None = None,
        automation_id: str | None = None,
        start: dict[str, str] | None = None,
        limit: int = 100,
    ) -> tuple[list[RunRecord], dict[str, str] | None]:
        ordered = sorted(
            (
                r
                for r in self.records.values()
                if r.tenant_id == tenant_id
                and (r.deal_id == deal_id if deal_id is not None else r.automation_id == automation_id)
            ),
            key=lambda r: (r.started_at, r.run_id),
        )
        if start is not None:
            ordered = ordered[[r.run_id for r in ordered].index(start["run_id"]) + 1 :]
        found = [r for r in ordered if r.status == "waiting" or self.cancelled_by.get(r.run_id) == job_id]
        page = found[:limit]
        return page, ({"run_id": page[-1].run_id} if len(found) > limit else None)

    def cancel(self, run: RunRecord, reason: str, job_id: str) -> bool:
        current = self.records.get(run.run_id)
        if current is None or current.status != "waiting":
            return False
        self.write(current.model_copy(update={"status": "cancelled", "reason": reason}))
        self.cancelled_by[run.run_id] = job_id
        return True

    def write(self, record: RunRecord) -> None:
        self.records[record.run_id] = record
        self.writes.append(record)

    def write_all(self, records: Sequence[RunRecord]) -> list[RunRecord]:
        for record in records:
            self.write(record)
        return []

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
        self.saved: dict[tuple[str, int], list[Automation]] = {}  # every version put, as the store keeps them
        for item in automation:
            self.put(item)

    def put(self, automation: Automation) -> None:
        kind = automation.kind.upper() if automation.kind != "business_process" else "PROCESS"
        rest = [a for a in self.definitions.get(kind, []) if a.id != automation.id]
        self.definitions[kind] = [*rest, automation]
        self.saved.setdefault((automation.id, automation.version), []).append(automation)

    def versions(self, tenant_id: str, automation_id: str, version: int) -> list[Automation]:
        assert tenant_id == self.tenant.id, f"no tenant '{tenant_id}'"
        return list(self.saved.get((automation_id, version), []))

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
    steps that fail as if their retries were spent. With ``retrying`` a step that raises is tried
    again as its retry policy says (the failure classed as the AWS adapters class it), each try
    noted in ``tries`` as (step, attempt, back-off seconds); without it the first error ends it."""

    suspend_at_waits: bool = False
    give_up: set[str] = field(default_factory=set)
    retrying: bool = False
    tries: list[tuple[str, int, int]] = field(default_factory=list)
    _attempt: int = 1
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

    def step(self, name: str, fn: Callable[[], T], *, side_effect: bool = False, retry: RetryPolicy | None = None) -> T:
        replayed, result = self._replayed("step", name)
        if replayed:
            return result  # type: ignore[no-any-return]
        if name in self.give_up:
            raise GaveUp(f"gave up after 4 attempts: {name} kept failing")
        policy = retry or DEFAULT_RETRY
        self._attempt = 1
        try:
            while True:
                try:
                    outcome = json.loads(json.dumps(fn()))  # a step's result must survive its checkpoint
                    break
                except Exception as exc:
                    if not self.retrying or self._attempt >= policy.attempts or not policy.retries(failure_class(exc)):
                        raise
                    self.tries.append((name, self._attempt, policy.delay(self._attempt)))
                    self._attempt += 1
        finally:
            self._attempt = 1
        self.checkpoints.append(("step", name, outcome))
        return outcome  # type: ignore[no-any-return]

    @property
    def attempt(self) -> int:
        return self._attempt

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


# ─────────────────────────────────────────────────────────────────────────────────────────────────
# Authoring and policy: a tenant's definitions compiled without a store (checks, loops, moves,
# transfer, plans, access), and the automation writer copies, moves and imports go through
# ─────────────────────────────────────────────────────────────────────────────────────────────────

TENANT_ID = "acme"


def a_tenant(tenant_id: str = TENANT_ID, **changes: Any) -> Tenant:
    """A tenant with one user of each role (u-admin, u-head the sales manager, u-anna and u-piotr
    sales reps), the CRM's address and a tax rate as constants, on the business plan."""
    users = [
        User(id="u-admin", name="Ada Admin", email="ada@acme.example", role=Role.ADMIN),
        User(id="u-head", name="Helena Head", email="helena@acme.example", role=Role.SALES_MANAGER),
        User(id="u-anna", name="Anna Kowalska", email="anna@acme.example", role=Role.SALES_REP),
        User(id="u-piotr", name="Piotr Nowak", email="piotr@acme.example", role=Role.SALES_REP),
    ]
    constants = {
        "crm_url": TypedValue(type="text", value="https://crm.acme.example"),
        "tax_rate": TypedValue(type="number", value="0.23"),
    }
    return Tenant.model_validate(
        {"id": tenant_id, "name": "Acme Consulting", "users": users, "constants": constants, **changes}
    )


def a_won_deal() -> Deal:
    """Acme's won deal "Website" (1,000.00), Anna responsible."""
    return Deal(
        tenant_id=TENANT_ID,
        id="d-1",
        pipeline_id="sales",
        stage_id="won",
        title="Website",
        amount=Decimal("1000.00"),
        responsible_id="u-anna",
    )


def some_pipelines() -> list[Pipeline]:
    """Sales (two of its stages with a checklist step), delivery and renewals for deals; leads."""
    return [
        Pipeline.model_validate(
            {
                "id": "sales",
                "name": "New business",
                "stages": [
                    {"id": "new", "name": "New", "steps": [{"id": "qualify", "name": "Qualify the need"}]},
                    {"id": "proposal", "name": "Proposal", "steps": [{"id": "send_proposal", "name": "Send it"}]},
                    {"id": "negotiation", "name": "Negotiation"},
                    {"id": "won", "name": "Won", "semantic": "won"},
                    {"id": "lost", "name": "Lost", "semantic": "lost"},
                ],
            }
        ),
        Pipeline.model_validate(
            {
                "id": "delivery",
                "name": "Delivery",
                "stages": [{"id": "kickoff", "name": "Kick-off"}, {"id": "in_delivery", "name": "In delivery"}],
            }
        ),
        Pipeline.model_validate(
            {
                "id": "renewals",
                "name": "Renewals",
                "stages": [{"id": "due", "name": "Due"}, {"id": "renewed", "name": "Renewed", "semantic": "won"}],
            }
        ),
        Pipeline.model_validate(
            {
                "id": "leads",
                "name": "Leads",
                "entity": "lead",
                "stages": [
                    {"id": "new", "name": "New lead"},
                    {"id": "qualified", "name": "Qualified"},
                    {"id": "need_satisfied", "name": "Need satisfied", "semantic": "won"},
                    {"id": "rejected", "name": "Rejected", "semantic": "lost"},
                ],
            }
        ),
    ]


def some_fields() -> list[FieldDefinition]:
    """A list field (what we sell), a date, a number and a text field."""
    return [
        FieldDefinition(
            code="what_we_sell", name="What we sell", kind=FieldKind.LIST, options=["services", "products"]
        ),
        FieldDefinition(code="proposal_sent_on", name="Proposal sent on", kind=FieldKind.DATE),
        FieldDefinition(code="budget", name="Budget", kind=FieldKind.NUMBER),
        FieldDefinition(code="region", name="Region", kind=FieldKind.TEXT),
    ]


def automation_of(**body: Any) -> Automation:
    """Automation of any kind from its body, validated as the API validates it."""
    return AUTOMATION.validate_python(body)


def a_rule(rule_id: str, *actions: dict[str, Any], **body: Any) -> Rule:
    """A rule on sales/won (unless ``body`` says where), notifying the head unless given actions."""
    notify = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}
    place = {"name": f"Rule {rule_id}", "pipeline_id": "sales", "stage_id": "won"}
    return Rule.model_validate({"kind": "rule", "id": rule_id, **place, "actions": list(actions) or [notify], **body})


def some_automation() -> list[Automation]:
    """Two rules on sales (one with a condition and a constant), a tunnel to delivery, a trigger on
    sales and one on leads: all switched on."""
    return [
        a_rule("won-notify-head"),
        a_rule(
            "lost-email",
            {
                "kind": "send_email",
                "to": {"users": ["u-head", "u-anna"]},
                "subject": "Lost: {{ deal.title }} ({{ deal.amount }} {{ deal.currency }})",
                "body": "{{ const.crm_url }}/crm/deal/show/{{ deal.id }}/",
            },
            stage_id="lost",
            condition={"field": "amount", "op": "gte", "value": 1000},
        ),
        automation_of(
            kind="tunnel",
            id="won-to-delivery",
            name="Won services deals go to delivery",
            pipeline_id="sales",
            stage_id="won",
            target_pipeline_id="delivery",
            target_stage_id="kickoff",
            mode="copy",
            condition={"field": "what_we_sell", "op": "equals", "value": "services"},
        ),
        automation_of(
            kind="trigger",
            id="invoice-paid",
            name="Invoice paid",
            pipeline_id="sales",
            stage_id="won",
            event="invoice_paid",
        ),
        automation_of(
            kind="trigger",
            id="lead-satisfied",
            name="Linked deal won",
            pipeline_id="leads",
            stage_id="need_satisfied",
            event="linked_deal_won",
        ),
    ]


def a_workflow(workflow_id: str = "proposal-sent", **changes: Any) -> FieldStepWorkflow:
    """The proposal's date field and the step "send the proposal", as one field–step workflow."""
    body = {
        "id": workflow_id,
        "name": "Proposal sent: date and step",
        "field_code": "proposal_sent_on",
        "pipeline_id": "sales",
        "step_id": "send_proposal",
        **changes,
    }
    return FieldStepWorkflow.model_validate(body)


class StaleWrite(RuntimeError):
    """What ``FakeAutomationStore`` raises where the store raises ``StaleDefinition``."""


def _stored_key(definition: Definition) -> tuple[str, str]:
    """(stored kind, id) as the store keys a definition: ``("FIELD", code)``, ``("PROCESS", id)``…"""
    if isinstance(definition, Pipeline):
        return "PIPELINE", definition.id
    if isinstance(definition, FieldDefinition):
        return "FIELD", definition.code
    if isinstance(definition, FieldStepWorkflow):
        return "WORKFLOW", definition.id
    return next(kind for kind, model in STORED_KINDS.items() if isinstance(definition, model)), definition.id


class FakeAutomationStore(FakeAutomation):
    """``AutomationWriter`` (and ``AutomationSource``): one tenant's definitions, written as the
    DynamoDB store writes them — each transaction at most ``MAX_WRITES`` definitions, all or nothing,
    with the tenant's automation-version bump; a put of a new definition needs it absent, a put or
    delete at a version needs that version stored, ``at_version`` needs the tenant's automation
    still there. ``transactions`` records every transaction that was written, in order."""

    def __init__(
        self,
        tenant: Tenant | None = None,
        pipelines: Iterable[Pipeline] | None = None,
        fields: Iterable[FieldDefinition] | None = None,
        automation: Iterable[Automation] | None = None,
        workflows: Iterable[FieldStepWorkflow] = (),
    ) -> None:
        super().__init__(
            tenant or a_tenant(),
            some_pipelines() if pipelines is None else pipelines,
            some_fields() if fields is None else fields,
            some_automation() if automation is None else automation,
        )
        self.definitions["WORKFLOW"] = list(workflows)
        self.transactions: list[dict[str, Any]] = []

    def _stored(self) -> dict[tuple[str, str], Any]:
        return {_stored_key(d): d for items in self.definitions.values() for d in items}

    def write_definitions(
        self,
        tenant_id: str,
        puts: Sequence[tuple[Definition, int | object | None]] = (),
        deletes: Sequence[tuple[Definition, int | object]] = (),
        *,
        at_version: int | None = None,
        constants: dict[str, TypedValue] | None = None,
        note: VersionNote | None = None,
    ) -> None:
        assert tenant_id == self.tenant.id, f"no tenant '{tenant_id}'"
        if len(puts) + len(deletes) > MAX_WRITES:
            raise PayloadTooLarge(f"at most {MAX_WRITES} definitions per transaction, got {len(puts) + len(deletes)}")
        if not puts and not deletes and constants is None:
            return
        stored = self._stored()
        stale = [
            _stored_key(model)
            for model, expected in puts
            if (expected is None and _stored_key(model) in stored)
            or (expected not in (None, ANY) and getattr(stored.get(_stored_key(model)), "version", None) != expected)
        ]
        stale += [
            _stored_key(model)
            for model, expected in deletes
            if _stored_key(model) not in stored
            or (expected is not ANY and getattr(stored[_stored_key(model)], "version", None) != expected)
        ]
        if stale:
            raise StaleWrite(f"{', '.join(f'{kind}#{key}' for kind, key in stale)} changed meanwhile")
        if at_version is not None and at_version != self.tenant.automation_version:
            raise StaleWrite(f"the automation of tenant '{tenant_id}' changed since version {at_version}")
        for model, _ in deletes:
            stored.pop(_stored_key(model))
        for model, _ in puts:
            stored[_stored_key(model)] = model
        self.definitions = {}
        for (kind, _), model in stored.items():
            self.definitions.setdefault(kind, []).append(model)
        update: dict[str, Any] = {"automation_version": self.tenant.automation_version + 1}
        if constants is not None:
            update["constants"] = dict(constants)
        self.tenant = self.tenant.model_copy(update=update)
        self.transactions.append(
            {"puts": [m for m, _ in puts], "deletes": [m for m, _ in deletes], "at_version": at_version, **update}
        )


def compiled_tenant(
    tenant: Tenant | None = None,
    *,
    pipelines: Iterable[Pipeline] | None = None,
    fields: Iterable[FieldDefinition] | None = None,
    automation: Iterable[Automation] | None = None,
    workflows: Iterable[FieldStepWorkflow] = (),
) -> TenantAutomation:
    """A tenant's automation compiled by ``compile_tenant`` (no store): the tenant, pipelines,
    fields and automation above unless given."""
    store = FakeAutomationStore(tenant, pipelines, fields, automation, workflows)
    return store.load(store.tenant.id)


class FakeMetrics:
    """The metrics port, recording: every count and measure with its dimensions, and the flushes."""

    def __init__(self) -> None:
        self.counted: list[tuple[str, int, dict[str, str]]] = []
        self.measured: list[tuple[str, float, str, dict[str, str]]] = []
        self.flushes = 0

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        self.counted.append((name, value, dimensions))

    def measure(self, name: str, value: float, unit: str, **dimensions: str) -> None:
        self.measured.append((name, value, unit, dimensions))

    def flush(self) -> None:
        self.flushes += 1

    def total(self, name: str, **dimensions: str) -> int:
        """How much ``name`` was counted with (at least) these dimensions."""
        return sum(v for n, v, d in self.counted if n == name and dimensions.items() <= d.items())


class FakeCancellationJobs:
    """``CancellationJobs``: every job by id; a save since the expected version is refused."""

    def __init__(self) -> None:
        self.jobs: dict[str, CancellationJob] = {}

    def create(self, job: CancellationJob) -> None:
        assert job.job_id not in self.jobs
        self.jobs[job.job_id] = job

    def get(self, tenant_id: str, job_id: str) -> CancellationJob | None:
        found = self.jobs.get(job_id)
        return found if found is not None and found.tenant_id == tenant_id else None

    def save(self, job: CancellationJob, expected_version: int) -> bool:
        if self.jobs[job.job_id].version != expected_version:
            return False
        self.jobs[job.job_id] = job
        return True


@dataclass
class FakeStopper:
    """The ``RunStarter``'s stop: ``waiting`` executions stop (True), ended ones do not (False),
    ``refused`` ones raise as AWS throttling would."""

    waiting: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    stops: list[str] = field(default_factory=list)

    def start(self, request: RunRequest) -> bool:
        raise AssertionError("cancelling starts nothing")

    def stop(self, execution_id: str) -> bool:
        self.stops.append(execution_id)
        if execution_id in self.refused:
            raise RuntimeError(f"throttled: {execution_id}")
        if execution_id in self.waiting:
            self.waiting.discard(execution_id)
            return True
        return False


@dataclass
class FakeQueue:
    """``CancellationQueue``: the jobs queued, in order."""

    queued: list[tuple[str, str]] = field(default_factory=list)

    def enqueue(self, tenant_id: str, job_id: str) -> None:
        self.queued.append((tenant_id, job_id))


def an_engine_for(*automation: Automation) -> FakeEngine:
    """The fake engine holding acme (its pipelines and fields), ``automation`` and the won deal."""
    return FakeEngine(
        FakeAutomation(a_tenant(), some_pipelines(), some_fields(), list(automation)), FakeDeals(a_won_deal())
    )


class FakeEnrollmentBook:
    """Enrollment records in memory, written on their version as DynamoDB's condition would.
    ``before_record`` runs just before each write: a test slips a rival start in there."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.before_record: Callable[[], None] | None = None
        self.reads = 0

    def starts(self, tenant_id: str, automation_id: str, item_id: str) -> dict[str, Any] | None:
        self.reads += 1
        found = self.items.get((tenant_id, automation_id, item_id))
        return copy.deepcopy(found) if found is not None else None

    def record(
        self,
        tenant_id: str,
        automation_id: str,
        item_id: str,
        starts: dict[str, Any],
        expected_version: int,
        keep_until: datetime | None,
    ) -> bool:
        rival, self.before_record = self.before_record, None
        if rival is not None:
            rival()
        key = (tenant_id, automation_id, item_id)
        current = self.items.get(key)
        if (current["version"] if current else 0) != expected_version:
            return False
        self.items[key] = copy.deepcopy(starts)
        return True


class FakeTimers:
    """``Timers``: timers by their identity and due time, as TimersTable keys them."""

    def __init__(self) -> None:
        self.timers: dict[tuple[str, str, str | None, str | None, str], Timer] = {}
        self.arm_specs: dict[tuple[str, str], str] = {}

    @staticmethod
    def _key(timer: Timer) -> tuple[str, str, str | None, str | None, str]:
        return (timer.kind, timer.tenant_id, timer.automation_id, timer.deal_id, timer.due_at)

    def put(self, timer: Timer) -> None:
        self.timers[self._key(timer)] = timer

    def due(self, now: str, limit: int) -> list[Timer]:
        return sorted((t for t in self.timers.values() if t.due_at <= now), key=lambda t: t.due_at)[:limit]

    def remove(self, timer: Timer) -> None:
        self.timers.pop(self._key(timer), None)

    def request_arm(self, tenant_id: str) -> None:
        self.put(Timer(kind="arm", tenant_id=tenant_id, due_at="1970-01-01T00:00:00Z"))

    def armed(self, tenant_id: str) -> dict[str, str]:
        return {a: spec for (t, a), spec in self.arm_specs.items() if t == tenant_id}

    def set_armed(self, tenant_id: str, automation_id: str, spec: str | None) -> None:
        if spec is None:
            self.arm_specs.pop((tenant_id, automation_id), None)
        else:
            self.arm_specs[(tenant_id, automation_id)] = spec

    def of(self, kind: str) -> list[Timer]:
        return [t for t in self.timers.values() if t.kind == kind]


@dataclass
class FakeTimerQueue:
    """``TimerQueue``: the jobs queued, in order."""

    queued: list[TimerJob] = field(default_factory=list)

    def enqueue(self, job: TimerJob) -> None:
        self.queued.append(job)
