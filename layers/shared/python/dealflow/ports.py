"""Every edge the engine talks through, as Protocols: the stores it reads and writes (implemented in
``dealflow.store``), the mailer, notifier, run starter and secrets (``dealflow.aws``), the durable
steps of a run. Test mode and the unit tests pass in-memory implementations (``tests/fakes.py``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

# The models are named in signatures only: a function that uses a port does not load them all.
if TYPE_CHECKING:
    from datetime import datetime

    from dealflow.engine.compiled import TenantAutomation
    from dealflow.model import Causation, Deal, RunRecord, RunRequest, Tenant, TypedValue
    from dealflow.model.automation import AmbiguousPolicy
    from dealflow.model.cancellation import CancellationJob
    from dealflow.model.catalog import Definition
    from dealflow.model.failures import RetryPolicy
    from dealflow.model.timing import Timer, TimerJob
    from dealflow.model.versions import VersionNote

T = TypeVar("T")


class Mailer(Protocol):
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
        """Send one e-mail from ``sender`` (a verified identity), shown as ``sender_name``, answered
        to ``reply_to``; return the provider's message id."""
        ...


class Notifier(Protocol):
    def notify(self, *, tenant_id: str, deal_id: str, user_ids: list[str], message: str) -> str:
        """Publish one notification for the given users; return the provider's message id."""
        ...


class Metrics(Protocol):
    """Operational signals (CloudWatch metrics through EMF on AWS). Dimensions stay few and
    low-cardinality — function, automation kind, outcome, effect — never a tenant, deal or run id:
    each distinct value is a metric CloudWatch bills and an alarm must name."""

    def count(self, name: str, value: int = 1, **dimensions: str) -> None: ...

    def measure(self, name: str, value: float, unit: str, **dimensions: str) -> None:
        """One observation (a lag in milliseconds, ...); ``unit`` is a CloudWatch unit name."""
        ...

    def flush(self) -> None:
        """Publish what was counted since the last flush (once per invocation, from the handler)."""
        ...


class Durable(Protocol):
    """What a run needs from the durable-execution engine: checkpointed steps and timers."""

    def step(self, name: str, fn: Callable[[], T], *, side_effect: bool = False, retry: RetryPolicy | None = None) -> T:
        """Run ``fn`` once and checkpoint its result; a ``side_effect`` step is never re-run
        within one attempt (it fails over to the retry policy instead). ``retry`` is the step's
        policy (None: the engine's default, ``dealflow.model.failures.DEFAULT_RETRY``)."""
        ...

    @property
    def attempt(self) -> int:
        """Inside a step: which try of it this is (1 the first); outside any step: 1."""
        ...

    def wait(self, name: str, seconds: int) -> None: ...

    def callback(self, name: str, timeout_seconds: int) -> EventCallback:
        """A durable callback (checkpointed: a replay gets the same id) that times out after
        ``timeout_seconds``; someone outside the run completes it (``RunStarter.resume``)."""
        ...

    @property
    def execution_id(self) -> str:
        """The durable execution's id (its ARN on AWS), to stop it later."""
        ...

    def owns(self, error: Exception) -> bool:
        """Whether ``error`` is the durable engine's own verdict on this invocation (retry it; the
        replay went astray), which the run must let through rather than end on. A step that ran
        out of retries is not: that is the run's failure to record."""
        ...


class EventCallback(Protocol):
    """A callback a run waits on: its id, and its outcome."""

    @property
    def callback_id(self) -> str: ...

    def result(self) -> str | None:
        """What the callback was completed with; None when it timed out. Until either happens the
        run is suspended here (on AWS the invocation ends; the execution resumes when it comes)."""
        ...


@dataclass(frozen=True)
class Waiter:
    """A run waiting for an event about one deal (a process's ``wait_for`` node at ``position``):
    what completes its callback, and until when it waits. ``on`` is where the event comes from:
    ``webhook`` (the receiver) or ``deal`` (the dispatcher, from the deal's changes)."""

    tenant_id: str
    deal_id: str
    run_id: str
    position: str
    callback_id: str
    automation_id: str
    on: str
    until: Mapping[str, Any]
    expires_at: str


class Waiters(Protocol):
    """The registry of waiting runs, looked up by deal."""

    def add(self, waiter: Waiter) -> None: ...

    def of_deal(self, tenant_id: str, deal_id: str) -> list[Waiter]:
        """The runs waiting for an event about the deal (one cheap read)."""
        ...

    def claim(self, waiter: Waiter) -> bool:
        """Remove the waiter unless someone else did: True for the one caller that resumes it."""
        ...

    def forget(self, tenant_id: str, deal_id: str, run_id: str) -> None:
        """Remove every waiter of a run (it timed out, was cancelled or ended)."""
        ...


@dataclass(frozen=True)
class ExecutionFacts:
    """What the durable engine still knows of an execution that ended: the request it was started
    with (as sent, possibly unreadable) and the error it ended with."""

    request: Any
    error: str | None = None


class Executions(Protocol):
    def describe(self, execution_id: str) -> ExecutionFacts | None:
        """The execution's request and error; None when the engine no longer knows it."""
        ...


class SecretSource(Protocol):
    def secrets(self, tenant_id: str) -> str | None:
        """The tenant's webhook secrets, one per line (two during a rotation); None when it has
        none (unknown tenant)."""
        ...


class PageKeys(Protocol):
    def keys(self) -> list[bytes]:
        """The deployment's page-token keys, the sealing one first (more during a rotation)."""
        ...


class RunStarter(Protocol):
    """Starts a runner execution by name; starting a name that already ran does nothing."""

    def start(self, request: RunRequest) -> bool:
        """Return True when a new run started, False when the name was already taken."""
        ...

    def stop(self, execution_id: str) -> bool:
        """Stop a waiting run (its automation was switched off, its deal deleted); False when its
        execution had ended already."""
        ...


class RunResumer(Protocol):
    """Resumes runs waiting on a callback (``SendDurableExecutionCallbackSuccess`` on AWS)."""

    def resume(self, callback_id: str, payload: str) -> bool:
        """Complete a waiting run's callback with ``payload`` (JSON); False when the callback had
        closed already (it timed out, or its execution ended)."""
        ...


class Compiler(Protocol):
    """Turns a tenant's stored definitions into what the engine runs (``dealflow.engine.compiled``);
    the automation store caches the result per container, keyed by the automation version."""

    def compile(self, tenant: Tenant, definitions: Mapping[str, Sequence[Any]]) -> Any: ...

    def refresh(self, compiled: Any, tenant: Tenant) -> Any: ...


class DealNotFound(LookupError):
    """No deal (or lead) with that id in the tenant."""


class StaleDeal(RuntimeError):
    """Someone else wrote the deal since it was read (the version moved)."""


class DealStore(Protocol):
    def get(self, tenant_id: str, deal_id: str) -> Deal | None: ...

    def require(self, tenant_id: str, deal_id: str) -> Deal:
        """The deal, or ``DealNotFound``."""
        ...

    def apply(
        self, tenant_id: str, deal_id: str, change: Callable[[Deal], Deal], causation: Causation, effect_key: str
    ) -> tuple[Deal, bool]:
        """Apply an automation's change exactly once per ``effect_key``: the deal after it, and
        whether this call applied it."""
        ...

    def create_if_absent(self, deal: Deal) -> bool:
        """Store a new deal (a tunnel's copy); False when one with its id exists already."""
        ...


class AmbiguousOutcome(RuntimeError):
    """A call that may have been carried out although it failed: a 5xx or a timeout after the
    request went out (SES may have taken the e-mail). Adapters raise it; the effect's policy
    (``AmbiguousPolicy``) decides between sending again and holding the effect for a person."""


class CallFailed(RuntimeError):
    """A call to another system that failed, saying how: ``failure`` is its transient class
    (``dealflow.model.failures``; None: not worth another try), ``retry_after`` the seconds the
    other side asked us to wait (``Retry-After``), ``delivery`` the attempt as the run's delivery
    log keeps it (status, duration, sizes)."""

    def __init__(
        self,
        message: str,
        *,
        failure: str | None = None,
        retry_after: float | None = None,
        delivery: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.failure, self.retry_after, self.delivery = failure, retry_after, delivery


class NotPerformed(CallFailed):
    """The call surely had no effect (refused before it was sent, a 429, a 4xx): the effect's key
    is freed, and a retry performs it."""


class AmbiguousCall(AmbiguousOutcome, CallFailed):
    """A call that may have been carried out (a 5xx, a timeout after the request left)."""


@dataclass(frozen=True)
class OutgoingRequest:
    """One HTTP request as it leaves: the rendered, signed request."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout: float


@dataclass(frozen=True)
class HttpReply:
    """The other side's answer, whatever its status; ``body`` at most ``MAX_REPLY_BYTES``."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    seconds: float
    address: str  # the address the request was sent to (resolved and checked)
    truncated: bool = False


class HttpSender(Protocol):
    def send(self, request: OutgoingRequest) -> HttpReply:
        """Send ``request`` to the address its host resolves to, once that address is checked;
        ``NotPerformed`` when it was refused or never left (a private address, no connection),
        ``AmbiguousCall`` when it left and no answer came (a timeout, a dropped connection)."""
        ...


class HttpSecrets(Protocol):
    """Secrets the ``http_request`` action uses, from the tenant's path in Parameter Store."""

    def header(self, tenant_id: str, name: str) -> str | None:
        """A secret header value by its name; None when the tenant has no such secret."""
        ...

    def signing(self, tenant_id: str) -> str | None:
        """The tenant's outgoing signing secret (the first line); None when it has none."""
        ...


class EffectLedger(Protocol):
    def once(
        self,
        tenant_id: str,
        key: str,
        effect: Callable[[], dict[str, Any]],
        ambiguous: AmbiguousPolicy = "hold",
    ) -> dict[str, Any]:
        """Run ``effect`` unless ``key`` ran before; return its outcome. When the effect may or may
        not have happened (``AmbiguousOutcome``, or an earlier attempt that never confirmed),
        ``retry`` runs it (again) and ``hold`` does not: the outcome is ``{"status": "unconfirmed",
        "reason": ...}`` and stays so until a person decides."""
        ...


def record_id(effect_key: str) -> str:
    """A workgroup's or task's id, derived from the effect that creates it: creating twice finds one."""
    return hashlib.sha256(effect_key.encode()).hexdigest()[:24]


class RecordStore(Protocol):
    def create_once(
        self, tenant_id: str, kind: str, effect_key: str, values: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Store a workgroup or task with id ``record_id(effect_key)``; it, and whether this call made it."""
        ...


class RunLog(Protocol):
    def write(self, record: RunRecord) -> None:
        """Store (or rewrite) one run's record."""
        ...

    def get(self, tenant_id: str, run_id: str) -> RunRecord | None: ...

    def end(self, record: RunRecord) -> bool:
        """Store a run's last record unless its stored one has ended already (completed, failed,
        cancelled…): a late report never overwrites how a run really ended. False when it had."""
        ...

    def for_deal(self, tenant_id: str, deal_id: str, limit: int = 100) -> list[RunRecord]: ...

    def for_automation(self, tenant_id: str, automation_id: str, limit: int = 100) -> list[RunRecord]: ...


class WaitingRuns(Protocol):
    """The run log as cancellation jobs read and mark it."""

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
        """At most ``limit`` runs, oldest first, of the deal's (or automation's) runs still waiting
        and of those ``job_id`` marked cancelled already; the position after the last one given
        (None at the end). A call reads a bounded part of the log, so it may give fewer."""
        ...

    def cancel(self, run: RunRecord, reason: str, job_id: str) -> bool:
        """Mark a waiting run cancelled by ``job_id``; False when its record ended meanwhile."""
        ...


class CancellationJobs(Protocol):
    def create(self, job: CancellationJob) -> None: ...

    def get(self, tenant_id: str, job_id: str) -> CancellationJob | None: ...

    def save(self, job: CancellationJob, expected_version: int) -> bool:
        """Store the job's next step; False when another worker stored one since ``expected_version``."""
        ...


class CancellationQueue(Protocol):
    def enqueue(self, tenant_id: str, job_id: str) -> None:
        """Have a worker go on with the job, asynchronously."""
        ...


class Timers(Protocol):
    """What is due when (``dealflow.model.timing.Timer``): schedules' next fire times, items' date
    triggers, and requests to arm a tenant's timed processes after a save."""

    def put(self, timer: Timer) -> None:
        """Store a timer (the same one again is the same item)."""
        ...

    def due(self, now: str, limit: int) -> list[Timer]:
        """Up to ``limit`` timers due at ``now`` (UTC, as ``Timer.due_at``) or before, oldest first
        within each part of the store."""
        ...

    def remove(self, timer: Timer) -> None: ...

    def request_arm(self, tenant_id: str) -> None:
        """Have the next tick work out the tenant's timed processes' timers (a save changed them)."""
        ...

    def armed(self, tenant_id: str) -> dict[str, str]:
        """Automation id → the spec its items' date timers were last armed for."""
        ...

    def set_armed(self, tenant_id: str, automation_id: str, spec: str | None) -> None: ...


class ItemPages(Protocol):
    """Deals and leads as the clock reads them: one by id, or a tenant's in pages (``DealStore``)."""

    def get(self, tenant_id: str, deal_id: str) -> Deal | None: ...

    def page(
        self,
        tenant_id: str,
        *,
        entity: str,
        equals: dict[str, str],
        limit: int,
        after: str | None = None,
        matches: Callable[[Deal], bool] | None = None,
    ) -> Any:
        """Items of ``entity`` in id order after ``after``: ``.items`` and ``.after`` (None: no more)."""
        ...


class TimerQueue(Protocol):
    def enqueue(self, job: TimerJob) -> None:
        """Have a worker go on with the job's next page, asynchronously."""
        ...


class RunDeadLetter(Protocol):
    """Where a run's record goes when the run log cannot take it: kept until drained back into the
    run log (``dealflow run-log drain``)."""

    def put(self, record: RunRecord, error: str) -> None: ...


class RunLogBatches(Protocol):
    """The run log as the dispatcher writes it: many records at the end of a batch."""

    def write_all(self, records: Sequence[RunRecord]) -> list[RunRecord]:
        """Store (or rewrite) the records in as few calls as the store allows; returns those it
        could not write (after its own retries)."""
        ...


class EnrollmentBook(Protocol):
    """The runs each (automation, item) started under an enrollment rule: one small record each,
    written conditionally, so two starts at once cannot both pass a rule only one may."""

    def starts(self, tenant_id: str, automation_id: str, item_id: str) -> dict[str, Any] | None:
        """The record (``first``, ``recent``: ``{"run", "at"}`` each, oldest first; ``version``),
        or None when the item never started the automation under an enrollment rule."""
        ...

    def record(
        self,
        tenant_id: str,
        automation_id: str,
        item_id: str,
        starts: dict[str, Any],
        expected_version: int,
        keep_until: datetime | None,
    ) -> bool:
        """Store ``starts`` (its ``version`` one past ``expected_version``; 0: no record yet) unless
        another start stored one since; False when it did. ``keep_until``: None keeps it for ever."""
        ...


@dataclass(frozen=True, slots=True)
class RecordedChange:
    """One deal change as the dispatcher saw it: the stream record's images (DynamoDB JSON; the
    old one None for a created deal) and when it was kept (ISO time)."""

    tenant_id: str
    event_id: str
    deal_id: str
    at: str
    old_image: Mapping[str, Any] | None
    new_image: Mapping[str, Any]


class ChangeHistory(Protocol):
    """A bounded per-tenant history of recent deal changes (what-if replays them): kept by the
    dispatcher, written at the end of its batch, expiring on its own."""

    def keep(self, change: RecordedChange) -> None:
        """Remember one change until ``flush`` (beyond a tenant's cap per batch, it is dropped)."""
        ...

    def flush(self) -> int:
        """Write what was kept; how many could not be written (best effort: never fails a batch)."""
        ...

    def recent(self, tenant_id: str, limit: int, since: str | None = None) -> list[RecordedChange]:
        """A tenant's newest changes first, at most ``limit``, none kept before ``since``."""
        ...


class AutomationSource(Protocol):
    def load(self, tenant_id: str) -> TenantAutomation:
        """The tenant's compiled automation (cached; recompiled when its version moved)."""
        ...

    def set_variable(self, tenant_id: str, name: str, value: object) -> None:
        """Change one tenant variable (a business process's ``set_variable`` with tenant scope)."""
        ...

    def versions(self, tenant_id: str, automation_id: str, version: int) -> Sequence[Any]:
        """What was saved as ``version`` of one automation (immutable; usually one content, empty
        when it was saved before versions were kept): a run loads the version it was planned with."""
        ...


ANY = object()  # a definition write without a version check
MAX_WRITES = 99  # definitions per transaction: DynamoDB takes 100 items, one is the version bump


class AutomationWriter(Protocol):
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
        """Puts (expected version: None = new, ``ANY`` = unchecked) and deletes of definitions as one
        transaction with the tenant's automation-version bump; at most ``MAX_WRITES``. Each put is
        kept as a version with ``note`` (who, why)."""
        ...


class AssignmentTurns(Protocol):
    """The ``assign`` action's turn counters: one per pool, shared by every run of the tenant."""

    def take(self, tenant_id: str, pool: str, effect_key: str) -> int:
        """The pool's next turn (1, 2, 3, …), taken once per ``effect_key``: a retried step gets
        back the turn it took, and no two effects ever get the same turn."""
        ...

    def peek(self, tenant_id: str, pool: str) -> int:
        """The turn ``take`` would give next (test mode takes none)."""
        ...


class Workloads(Protocol):
    def open_deals(self, tenant_id: str, user_ids: Sequence[str], closed: Sequence[tuple[str, str]]) -> dict[str, int]:
        """How many open deals each of ``user_ids`` is responsible for; ``closed`` are the
        (pipeline, stage) pairs whose deals are finished (won or lost)."""
        ...
