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
    from dealflow.engine.compiled import TenantAutomation
    from dealflow.model import Causation, Deal, RunRecord, RunRequest, Tenant, TypedValue
    from dealflow.model.automation import AmbiguousPolicy
    from dealflow.model.cancellation import CancellationJob
    from dealflow.model.catalog import Definition
    from dealflow.model.failures import RetryPolicy

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

    @property
    def execution_id(self) -> str:
        """The durable execution's id (its ARN on AWS), to stop it later."""
        ...

    def owns(self, error: Exception) -> bool:
        """Whether ``error`` is the durable engine's own verdict on this invocation (retry it; the
        replay went astray), which the run must let through rather than end on. A step that ran
        out of retries is not: that is the run's failure to record."""
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
    ) -> None:
        """Puts (expected version: None = new, ``ANY`` = unchecked) and deletes of definitions as one
        transaction with the tenant's automation-version bump; at most ``MAX_WRITES``."""
        ...
