"""``python -m dealflow.local sign-event FILE``: a webhook sample event signed afresh.

A signature is good for 5 minutes (``dealflow.webhooks.TOLERANCE_SECONDS``), so a committed sample
is stale the moment it is committed. This signs the event's body, exactly as it stands, with the
seeded sample secret at the current time, and dates the request context to match; nothing else
in the event changes.
"""

from __future__ import annotations

import base64
import copy
import time
from datetime import UTC, datetime
from typing import Any

from dealflow.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers

_SIGNING = {TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower()}


def raw_body(event: dict[str, Any]) -> bytes:
    """The bytes API Gateway received: what the signature covers."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def resign(event: dict[str, Any], secret: str, *, at: int | None = None) -> dict[str, Any]:
    """A copy of an HTTP API (payload 2.0) webhook event, signed with ``secret`` at ``at`` (unix
    seconds; default now). Header names stay lowercase, as API Gateway hands them on."""
    stamp = int(time.time()) if at is None else at
    signed = signed_headers(secret, raw_body(event), timestamp=stamp)
    fresh = copy.deepcopy(event)
    headers = {k: v for k, v in fresh.get("headers", {}).items() if k.lower() not in _SIGNING}
    headers.update({name.lower(): signed[name] for name in (TIMESTAMP_HEADER, SIGNATURE_HEADER)})
    fresh["headers"] = dict(sorted(headers.items()))
    context = fresh.setdefault("requestContext", {})
    context["time"] = datetime.fromtimestamp(stamp, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    context["timeEpoch"] = stamp * 1000
    return fresh
