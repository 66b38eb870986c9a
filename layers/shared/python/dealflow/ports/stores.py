"""The stores the engine reads and writes: automation and its writer, deals, the run log and its
batches, enrollment records, the change history, cancellation jobs, secrets and page keys,
assignment turns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

# The models are named in signatures only: a function that uses a port does not load them all.
if TYPE_CHECKING:
    from datetime import datetime

    from dealflow.model import Causation, Deal, RunRecord, Tenant, TypedValue
    from dealflow.model.cancellation import CancellationJob
    from dealflow.model.catalog import Definition
    from dealflow.model.versions import VersionNote


class SecretSource(Protocol):
    def secrets(self, tenant_id: str) -> str | None:
        """The tenant's webhook secrets, one per line (two during a rotation); None when it has
        none (unknown tenant)."""
        ...


class PageKeys(Protocol):
    def keys(self) -> list[bytes]:
        """The deployment's page-token keys, the sealing one first (more during a rotation)."""
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


# What a tenant's automation compiles to: the engine's ``TenantAutomation``. The ports sit below
# the engine and name none of its types; the engine says ``AutomationSource[TenantAutomation]``.
Compiled_co = TypeVar("Compiled_co", covariant=True)


class AutomationSource(Protocol[Compiled_co]):
    def load(self, tenant_id: str) -> Compiled_co:
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
