"""What runs do to the outside world: e-mail, notifications, metrics, HTTP calls, the effect
ledger that makes each of them happen once, and the records (workgroups, tasks) they create."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

# The models are named in signatures only: a function that uses a port does not load them all.
if TYPE_CHECKING:
    from dealflow.model.automation import AmbiguousPolicy


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
