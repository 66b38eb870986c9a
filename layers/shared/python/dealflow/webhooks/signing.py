"""Webhook signatures: how outside events (a paid invoice, a clicked e-mail link, a call, a web form) that move
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

Use ``sign`` / ``signed_headers`` to sign requests from Python; ``verify`` is what the receiver runs.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Sequence

# The scheme itself lives below the engine, which signs the requests it sends with it.
from dealflow.signatures import SCHEME, SIGNATURE_HEADER, TIMESTAMP_HEADER, as_bytes, signature_headers
from dealflow.signatures import digest as hmac_digest
from dealflow.signatures import sign as sign

TOLERANCE_SECONDS = 300
MAX_SIGNATURES = 8  # per header: a sender in rotation sends two; more is noise (or an attack on CPU)

_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def signed_headers(secret: str, body: bytes | str, *, timestamp: int | None = None) -> dict[str, str]:
    """Both headers for a request sent now (or at ``timestamp``), ready to merge into yours."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return {**signature_headers(secret, stamp, body), "Content-Type": "application/json"}


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
    raw = as_bytes(body)
    matched = False
    for secret in parse_secrets(secrets):
        expected = hmac_digest(secret, str(stamp), raw).encode("ascii")
        for digest in digests:
            # No early exit: time spent does not depend on which secret or signature matched.
            matched |= hmac.compare_digest(expected, digest.encode("ascii"))
    if not matched:
        raise SignatureError("signature does not match")
    return stamp
