"""Webhooks: outside events (a paid invoice, a clicked e-mail link, a call, a web form) that move
deals through their tenant's triggers.

Signature scheme ``v1``
-----------------------
Every request carries two headers:

``X-Dealflow-Timestamp: <unix seconds>``
    When the request was signed, as an integer. Accepted within ``TOLERANCE_SECONDS`` (5 minutes)
    of the receiver's clock, in either direction; anything else is refused as stale.
``X-Dealflow-Signature: v1=<hex>``
    ``<hex>`` is the lowercase hexadecimal HMAC-SHA256, keyed with the tenant's webhook secret
    (UTF-8), of the bytes ``f"{timestamp}.".encode() + raw_body``: the timestamp header's value,
    a full stop, then the request body exactly as sent (not re-serialised JSON). Several values
    may be given, separated by commas (``v1=<hex>,v1=<hex>``); the request is accepted if any of
    them matches any of the tenant's secrets. Entries of other schemes (``v0=...``) are ignored.

The tenant's secret lives in SSM Parameter Store (SecureString) at
``{WEBHOOK_SECRET_PREFIX}/{tenant_id}/webhook-secret`` (prefix ``/dealflow/tenants`` by default).
The parameter may hold two secrets, one per line, so a secret can be rotated without downtime:
add the new one as a second line, wait for the receivers' 5-minute cache, switch the sender to
it, then remove the old line.

The timestamp is signed with the body, so a captured request cannot be replayed after five
minutes, and within them the event id is refused a second time (the replay guard, kept 30 days).

Use ``sign`` / ``signed_headers`` to sign requests from Python; ``verify`` is what the receiver
runs. ``WebhookReceiver.receive`` is the whole acceptance of one request, with its ports (secret
source, automation, deals, replay guard, run starter) given, so it runs the same on Lambda, in
the local harness and against in-memory fakes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import AwareDatetime, Field, ValidationError, ValidationInfo, field_validator

from dealflow.clock import now
from dealflow.dispatch import RunStarter, TenantAutomation, plan_event
from dealflow.http_errors import (
    BadRequest,
    Conflict,
    HttpError,
    Invalid,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from dealflow.model import Deal
from dealflow.model.automation import EXTERNAL_EVENTS
from dealflow.model.base import ID_PATTERN, Id, Model
from dealflow.store.automation import UnknownTenant
from dealflow.store.webhook_events import WebhookEventLog

SIGNATURE_HEADER = "X-Dealflow-Signature"
TIMESTAMP_HEADER = "X-Dealflow-Timestamp"
SCHEME = "v1"
TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024
MAX_SIGNATURES = 8  # per header: a sender in rotation sends two; more is noise (or an attack on CPU)
DEFAULT_SECRET_PREFIX = "/dealflow/tenants"
SECRET_MAX_AGE_SECONDS = 300

_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


# ---- signing --------------------------------------------------------------------------------


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-Dealflow-Signature`` value for ``body`` sent at ``timestamp``: ``"v1=<hex>"``.

    ``body`` must be the exact bytes sent (a ``str`` is taken as UTF-8)."""
    return f"{SCHEME}={_digest(secret, str(int(timestamp)), _as_bytes(body))}"


def signed_headers(secret: str, body: bytes | str, *, timestamp: int | None = None) -> dict[str, str]:
    """Both headers for a request sent now (or at ``timestamp``), ready to merge into yours."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


class SignatureError(ValueError):
    """The request is not authentically from the tenant; ``reason`` says why (safe to return)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_secrets(value: str | Sequence[str]) -> list[str]:
    """A parameter value (one secret per line, two during a rotation) or a list → the secrets."""
    lines = value.splitlines() if isinstance(value, str) else list(value)
    return [line.strip() for line in lines if line.strip()]


def check_timestamp(timestamp: str | None, *, now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> int:
    """The signed timestamp, if present, an integer, and within ``tolerance`` seconds of ``now``."""
    if timestamp is None or not timestamp.strip():
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not _TIMESTAMP.match(timestamp.strip()):
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix time in whole seconds")
    stamp = int(timestamp.strip())
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        direction = "old" if stamp < current else "far in the future"
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is too {direction}: requests are accepted within "
            f"{tolerance // 60} minutes of the receiver's clock"
        )
    return stamp


def parse_signature(signature: str | None) -> list[str]:
    """The ``v1`` digests of an ``X-Dealflow-Signature`` value (lowercased hex)."""
    if signature is None or not signature.strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    digests = []
    for part in signature.split(","):
        scheme, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {SIGNATURE_HEADER} header: expected v1=<hex>[,v1=<hex>]")
        if scheme.strip() != SCHEME:
            continue
        value = value.strip()
        if not _HEX_SHA256.match(value):
            raise SignatureError(f"malformed {SIGNATURE_HEADER} header: v1 must be 64 hex digits")
        digests.append(value.lower())
    if not digests:
        raise SignatureError(f"{SIGNATURE_HEADER} has no {SCHEME} signature")
    if len(digests) > MAX_SIGNATURES:
        raise SignatureError(f"{SIGNATURE_HEADER} has more than {MAX_SIGNATURES} signatures")
    return digests


def verify(
    secrets: str | Sequence[str],
    timestamp: str | None,
    signature: str | None,
    body: bytes | str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a request's signature; returns its timestamp or raises ``SignatureError``.

    ``secrets``: the tenant's secret, or several (a list, or a parameter value with one per line);
    ``timestamp`` and ``signature``: the two header values (None when absent); ``body``: the raw
    request body. Every candidate is compared in constant time (``hmac.compare_digest``)."""
    stamp = check_timestamp(timestamp, now=now, tolerance=tolerance)
    digests = parse_signature(signature)
    raw = _as_bytes(body)
    matched = False
    for secret in parse_secrets(secrets):
        expected = _digest(secret, str(stamp), raw).encode("ascii")
        for digest in digests:
            # No early exit: time spent does not depend on which secret or signature matched.
            matched |= hmac.compare_digest(expected, digest.encode("ascii"))
    if not matched:
        raise SignatureError("signature does not match")
    return stamp


# ---- the event ------------------------------------------------------------------------------

ExternalEvent = Literal["email_link_clicked", "incoming_call", "invoice_paid", "web_form_submitted", "custom"]
assert get_args(ExternalEvent) == EXTERNAL_EVENTS, "webhook kinds drifted from the triggers' external events"


class WebhookEvent(Model):
    """The JSON body of a webhook request."""

    id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="The sender's unique id of this event (printable ASCII, no spaces); a second "
        "request with the same id is refused as a replay",
    )
    kind: ExternalEvent
    deal_id: Id = Field(description="The deal (or lead) the event is about")
    custom_event: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        validate_default=True,
        description="The custom event's name: required when kind is custom, and only then",
    )
    occurred_at: AwareDatetime | None = Field(default=None, description="When it happened (ISO 8601 with offset)")
    data: dict[str, Any] = Field(default_factory=dict, description="Anything else the sender wants on record")

    @field_validator("custom_event")
    @classmethod
    def _custom_needs_a_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "custom" and value is None:
            raise ValueError("required when kind is 'custom'")
        if kind is not None and kind != "custom" and value is not None:
            raise ValueError(f"only allowed when kind is 'custom' (kind is '{kind}')")
        return value


class WebhookAccepted(Model):
    event_id: str
    accepted: Literal[True] = True
    runs: list[str] = Field(description="The runs this event started (run ids; empty if no trigger applies)")
    not_started: list[dict[str, str]] = Field(
        default_factory=list, description="Triggers of the event whose condition did not hold"
    )


# ---- refusals -------------------------------------------------------------------------------


# A refusal of the receiver is an HTTP error like the API's; only a replay has its own name.
Rejected = HttpError


class Replayed(Conflict):
    status, error = 409, "replayed"


def _problems(exc: ValidationError) -> list[dict[str, str]]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        problems.append({"field": location, "problem": message})
    return problems


def parse_event(body: bytes) -> WebhookEvent:
    """The request body as a ``WebhookEvent``; ``BadRequest`` when it is not JSON, ``Invalid`` when
    it is JSON but not an event."""
    try:
        payload = json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise BadRequest("body is not valid JSON: nested too deeply") from None
    except UnicodeDecodeError:
        raise BadRequest("body is not valid JSON: not UTF-8") from None
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    try:
        return WebhookEvent.model_validate(payload)
    except ValidationError as exc:
        problems = _problems(exc)
        reason = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise Invalid(problems, reason) from None
    except RecursionError:
        raise BadRequest("body is nested too deeply") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# ---- ports ----------------------------------------------------------------------------------


class SecretSource(Protocol):
    def secrets(self, tenant_id: str) -> list[str] | None:
        """The tenant's webhook secrets; None when it has none (unknown tenant)."""
        ...


class ParameterStoreSecrets:
    """Webhook secrets from SSM Parameter Store through powertools' parameters utility, cached per
    container for ``max_age`` seconds. ``provider`` is a powertools ``SSMProvider``: the harness
    gives each local stack its own (the utility's module-level default provider would keep one
    boto3 client, and one cache, for the whole process).

    A missing parameter is remembered for ``missing_for`` seconds, so requests naming made-up
    tenants cannot each cost an SSM call (Parameter Store's standard throughput is small)."""

    def __init__(
        self,
        provider: Any,
        prefix: str = DEFAULT_SECRET_PREFIX,
        *,
        max_age: int = SECRET_MAX_AGE_SECONDS,
        missing_for: float = 60.0,
    ) -> None:
        self._provider = provider
        self._prefix = prefix.rstrip("/")
        self._max_age = max_age
        self._missing_for = missing_for
        self._missing: dict[str, float] = {}

    def name(self, tenant_id: str) -> str:
        return f"{self._prefix}/{tenant_id}/webhook-secret"

    def secrets(self, tenant_id: str) -> list[str] | None:
        if self._missing.get(tenant_id, 0.0) > time.monotonic():
            return None
        try:
            value = self._provider.get(self.name(tenant_id), decrypt=True, max_age=self._max_age)
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__
            code = getattr(cause, "response", {}).get("Error", {}).get("Code")
            if code == "ParameterNotFound":
                if len(self._missing) > 4096:
                    self._missing.clear()
                self._missing[tenant_id] = time.monotonic() + self._missing_for
                return None
            raise
        return parse_secrets(str(value)) or None

    def clear(self) -> None:
        """Forget cached secrets (the local harness calls this after changing one)."""
        self._missing.clear()
        self._provider.clear_cache()


# ---- accepting one request ------------------------------------------------------------------


def webhook_event_id(tenant_id: str, event_id: str) -> str:
    """The id runs are named after: the tenant's and the sender's ids. Two tenants may send the same
    event id (and have triggers of the same id) without one's run blocking the other's."""
    return f"wh:{tenant_id}:{event_id}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


@dataclass
class WebhookReceiver:
    """Accepts one webhook request: authenticity, shape, deal, replay, then the trigger runs."""

    secrets: SecretSource
    load_automation: Callable[[str], TenantAutomation]
    get_deal: Callable[[str, str], Deal | None]
    events: WebhookEventLog
    starter: RunStarter
    max_body: int = MAX_BODY_BYTES
    tolerance: int = TOLERANCE_SECONDS

    def authenticate(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> None:
        """Raise ``Unauthorized`` unless the tenant's secret signed this body recently. An unknown
        tenant gets the very answer a wrong signature gets."""
        timestamp, signature = _header(headers, TIMESTAMP_HEADER), _header(headers, SIGNATURE_HEADER)
        clock = now().timestamp()
        try:
            # Cheap checks first: a request without fresh, well-formed headers costs no SSM call.
            check_timestamp(timestamp, now=clock, tolerance=self.tolerance)
            parse_signature(signature)
            secrets = self.secrets.secrets(tenant_id) if ID_PATTERN.match(tenant_id) and len(tenant_id) <= 64 else None
            verify(secrets or [], timestamp, signature, body, now=clock, tolerance=self.tolerance)
        except SignatureError as exc:
            raise Unauthorized(exc.reason) from None
        except GetParameterError as exc:
            raise Unavailable("could not read the webhook secret; retry later") from exc

    def receive(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> WebhookAccepted:
        if len(body) > self.max_body:
            raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {self.max_body}")
        self.authenticate(tenant_id, headers, body)
        event = parse_event(body)
        try:
            return self.accept(tenant_id, event)
        except (ClientError, BotoCoreError) as exc:  # DynamoDB throttled or unreachable: not the sender's fault
            raise Unavailable("could not record the event; retry later", event_id=event.id) from exc

    def accept(self, tenant_id: str, event: WebhookEvent) -> WebhookAccepted:
        """Start the trigger runs of an authentic event, once per event id."""
        try:
            automation = self.load_automation(tenant_id)
        except UnknownTenant:
            raise NotFound(f"tenant '{tenant_id}' has no automation set up") from None
        deal = self.get_deal(tenant_id, event.deal_id)
        if deal is None:
            raise NotFound(f"deal '{event.deal_id}' not found", deal_id=event.deal_id)
        claimed, seen = self.events.claim(tenant_id, event.id, kind=event.kind, deal_id=event.deal_id)
        if not claimed:
            raise Replayed(
                f"event '{event.id}' was already received at {seen.received_at}"
                + (" and is still being processed" if seen.status == "processing" else ""),
                event_id=event.id,
                first_received_at=seen.received_at,
                status=seen.status,
                runs=seen.runs,
            )
        plan = plan_event(deal, event.kind, automation, webhook_event_id(tenant_id, event.id), event.custom_event)
        runs = [run.run_id for run in plan.runs]
        try:
            for run in plan.runs:
                self.starter.start(run)  # False: started by an earlier attempt; the run is still this event's
        except (ClientError, BotoCoreError) as exc:
            self.events.release(seen)  # the sender's retry is not a replay
            raise Unavailable("could not start the event's runs; retry later", event_id=event.id) from exc
        except BaseException:
            self.events.release(seen)
            raise
        self.events.accept(seen, runs)
        return WebhookAccepted(
            event_id=event.id,
            runs=runs,
            not_started=[{"automation_id": n["automation_id"], "reason": n["reason"]} for n in plan.not_started],
        )


__all__ = [
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "BadRequest",
    "Invalid",
    "NotFound",
    "ParameterStoreSecrets",
    "PayloadTooLarge",
    "Rejected",
    "Replayed",
    "SignatureError",
    "Unauthorized",
    "Unavailable",
    "WebhookAccepted",
    "WebhookEvent",
    "WebhookReceiver",
    "check_timestamp",
    "parse_event",
    "parse_secrets",
    "parse_signature",
    "sign",
    "signed_headers",
    "verify",
    "webhook_event_id",
]
