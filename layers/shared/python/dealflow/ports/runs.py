"""Runs as durable executions: the durable steps of a run, callbacks and the runs waiting on them,
starting, resuming and reading executions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

# The models are named in signatures only: a function that uses a port does not load them all.
if TYPE_CHECKING:
    from dealflow.model import RunRecord, RunRequest
    from dealflow.model.failures import RetryPolicy


T = TypeVar("T")


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
