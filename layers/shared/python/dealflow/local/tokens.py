"""Unsigned JWTs for the local API server — LOCAL ONLY.

On AWS, API Gateway's JWT authorizer checks the token's signature, issuer, audience and expiry
before the handler sees its claims. The local server has no issuer to trust, so it decodes the
payload and believes it: anyone can write any claims. Never put this in front of real data.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from dealflow.api.auth import ROLE_CLAIM, TENANT_CLAIM, USER_CLAIM

# "alg": "none" says plainly that nothing signs these tokens.
_HEADER = {"alg": "none", "typ": "JWT"}


def _encode(part: dict[str, Any]) -> str:
    raw = json.dumps(part, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def local_token(claims: dict[str, str]) -> str:
    """An unsigned JWT carrying ``claims`` (empty signature part, as for ``alg: none``)."""
    return f"{_encode(_HEADER)}.{_encode(claims)}."


def caller_token(tenant_id: str, user_id: str, role: str) -> str:
    """A local token for one user of one tenant, with the claims the API reads."""
    return local_token({USER_CLAIM: user_id, TENANT_CLAIM: tenant_id, ROLE_CLAIM: role})


def claims_from_authorization(header: str | None) -> dict[str, str] | None:
    """The claims of ``Authorization: Bearer <JWT>``, as API Gateway hands them on (every value a
    string); None when there is no bearer token or it is not a JWT with a JSON object payload —
    the handler then answers 401, as behind a real authorizer that let the request through."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    parts = token.strip().split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:
        return None
    payload = parts[1]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(decoded, dict):
        return None
    return {str(name): value if isinstance(value, str) else json.dumps(value) for name, value in decoded.items()}
