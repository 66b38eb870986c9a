"""Accepting one webhook request: authenticity, shape, deal, replay guard, then the trigger runs.

``WebhookReceiver.receive`` is the whole acceptance of one request, with its ports (secret source,
automation, deals, replay guard, run starter) given, so it runs the same on Lambda, in the local
harness and against in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError

from dealflow.clock import now
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.dispatch import plan_event
from dealflow.engine.enrollment import admitted
from dealflow.engine.waiting import Resumer
from dealflow.http_errors import Conflict, HttpError, NotFound, PayloadTooLarge, Unauthorized, Unavailable
from dealflow.model import Deal, RunRequest
from dealflow.model.base import ID_PATTERN
from dealflow.ports import EnrollmentBook, RunStarter, SecretSource
from dealflow.store.tenant_settings import UnknownTenant
from dealflow.store.webhook_events import WebhookEventLog
from dealflow.webhooks.events import MAX_BODY_BYTES, WebhookAccepted, WebhookEvent, parse_event
from dealflow.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE_SECONDS,
    SignatureError,
    check_timestamp,
    parse_signature,
    verify,
)

# A refusal of the receiver is an HTTP error like the API's; only a replay has its own name.
Rejected = HttpError


class Replayed(Conflict):
    status, error = 409, "replayed"


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
    resumer: Resumer | None = None  # runs waiting for events (wait_for nodes); None: none are resumed
    enrollments: EnrollmentBook | None = None  # triggers with an enrollment rule (``engine.enrollment``)
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
            raise NotFound("tenant", tenant_id, where="with automation set up") from None
        deal = self.get_deal(tenant_id, event.deal_id)
        if deal is None:
            raise NotFound("deal", event.deal_id, id_key="deal_id")
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
        runs: list[str] = []
        resumed: list[str] = []
        refused: list[tuple[RunRequest, str]] = []
        try:
            starting, refused = admitted(self.enrollments, plan.runs, automation.index.enrolling)
            runs = [run.run_id for run in starting]
            for run in starting:
                self.starter.start(run)  # False: started by an earlier attempt; the run is still this event's
            if self.resumer is not None and automation.index.waits_for_events:
                resumed = self.resumer.on_webhook(tenant_id, deal.id, self._as_waited(event))
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
            not_started=[{"automation_id": n.automation.id, "reason": n.reason} for n in plan.not_started]
            + [{"automation_id": run.automation.id, "reason": reason} for run, reason in refused],
            resumed=resumed,
        )

    @staticmethod
    def _as_waited(event: WebhookEvent) -> dict[str, object]:
        """The event as a waiting run reads it (``run.event``): its id, kind, time and data."""
        return event.model_dump(mode="json", exclude_none=True, exclude={"deal_id"})
