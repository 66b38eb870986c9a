"""Webhooks: outside events (a paid invoice, a clicked e-mail link, a call, a web form) that move
deals through their tenant's triggers. ``signing``: the v1 signature scheme; ``events``: the body;
``receiver``: accepting one request."""

from dealflow.http_errors import BadRequest, Invalid, NotFound, PayloadTooLarge, Unauthorized, Unavailable
from dealflow.webhooks.events import MAX_BODY_BYTES, WebhookAccepted, WebhookEvent, parse_event
from dealflow.webhooks.receiver import Rejected, Replayed, WebhookReceiver, webhook_event_id
from dealflow.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE_SECONDS,
    SignatureError,
    check_timestamp,
    parse_secrets,
    parse_signature,
    sign,
    signed_headers,
    verify,
)

__all__ = [
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "BadRequest",
    "Invalid",
    "NotFound",
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
