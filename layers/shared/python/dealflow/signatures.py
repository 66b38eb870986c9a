"""The ``v1`` signature scheme, both ways: incoming webhooks are verified with it
(``dealflow.webhooks.signing``, where the scheme is documented) and the ``http_request`` action
signs what it sends with it (``dealflow.engine.actions.http``), so a receiver of Dealflow's
requests checks them exactly as Dealflow checks requests sent to it.

A kernel module, below the engine and the webhooks alike: one HMAC, never two copies of it."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Dealflow-Signature"
TIMESTAMP_HEADER = "X-Dealflow-Timestamp"
SCHEME = "v1"


def as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def digest(secret: str, timestamp: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256, keyed with ``secret``, of ``f"{timestamp}.".encode() + body``."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-Dealflow-Signature`` value for ``body`` sent at ``timestamp``: ``"v1=<hex>"``.

    ``body`` must be the exact bytes sent (a ``str`` is taken as UTF-8)."""
    return f"{SCHEME}={digest(secret, str(int(timestamp)), as_bytes(body))}"


def signature_headers(secret: str, timestamp: int, body: bytes | str) -> dict[str, str]:
    """The two headers that sign ``body`` sent at ``timestamp`` (unix seconds)."""
    return {TIMESTAMP_HEADER: str(int(timestamp)), SIGNATURE_HEADER: sign(secret, timestamp, body)}
