"""The edges the domain talks through. AWS adapters live in ``dealflow.adapters``; tests may pass
in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Mailer(Protocol):
    def send(self, *, sender: str, to: list[str], subject: str, body: str) -> str:
        """Send one e-mail; return the provider's message id."""
        ...


class Notifier(Protocol):
    def notify(self, *, tenant_id: str, deal_id: str, user_ids: list[str], message: str) -> str:
        """Publish one notification for the given users; return the provider's message id."""
        ...


class Durable(Protocol):
    """What a run needs from the durable-execution engine: checkpointed steps and timers."""

    def step(self, name: str, fn: Callable[[], T], *, side_effect: bool = False) -> T:
        """Run ``fn`` once and checkpoint its result; a ``side_effect`` step is never re-run
        within one attempt (it fails over to the retry policy instead)."""
        ...

    def wait(self, name: str, seconds: int) -> None: ...

    @property
    def execution_id(self) -> str:
        """The durable execution's id (its ARN on AWS), to stop it later."""
        ...
