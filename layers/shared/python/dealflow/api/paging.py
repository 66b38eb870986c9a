"""Page tokens for every paged list (``GET /deals``, ``GET /runs``): where the next page starts,
sealed so that only this deployment's API, for this tenant and this list, could have made them.

A token is ``<payload>.<mac>``: the payload (base64url JSON) holds the position and a digest of
the list's filters; the mac is an HMAC-SHA256 over the list's name, the tenant and the payload
under the deployment's key (``PageKeys``: an SSM parameter, cached per container). A token cut,
edited, forged, made for another tenant or another list, or by another deployment is a 400
naming ``next_token`` — never a wrong page, and never a position handed to DynamoDB unchecked.
The first key seals and every key opens, so the key can be rotated without breaking pages in
flight."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from dealflow.api.errors import Invalid
from dealflow.http_errors import Unavailable
from dealflow.ports import PageKeys

PARAMETER = "next_token"
MAX_TOKEN = 2000
# A paged route's answers as the OpenAPI document lists them (powertools adds the page's schema to 200).
PAGED: dict[int, OpenAPIResponse] = {
    200: {"description": "A page"},
    400: {
        "description": "`next_token` is not a token this list gave out (bad_page_token, naming it in `problems`)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}


class BadPageToken(Invalid):
    """400 naming ``next_token``: the caller sent a token this API did not make for this list."""

    status, error = 400, "bad_page_token"


def _keys(keys: PageKeys) -> list[bytes]:
    try:
        return keys.keys()
    except RuntimeError as exc:  # MissingPageKey: the deployment is not set up
        raise Unavailable(f"pages cannot be sealed: {exc}") from None


def _mac(key: bytes, scope: str, tenant_id: str, payload: str) -> str:
    message = "\x1f".join((scope, tenant_id, payload)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _filters_digest(filters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]


def seal(keys: PageKeys, scope: str, tenant_id: str, filters: dict[str, Any], position: Any) -> str:
    """A token for the page of list ``scope`` (with ``filters``) that starts after ``position``
    (anything JSON can hold)."""
    body = {"at": position, "filters": _filters_digest(filters)}
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":"), default=str).encode()).decode()
    payload = payload.rstrip("=")
    return f"{payload}.{_mac(_keys(keys)[0], scope, tenant_id, payload)}"


def unseal(keys: PageKeys, scope: str, tenant_id: str, filters: dict[str, Any], token: str) -> Any:
    """The position a token sealed for list ``scope`` of this tenant; BadPageToken otherwise."""
    payload, _, mac = token.partition(".")
    if not any(hmac.compare_digest(mac, _mac(key, scope, tenant_id, payload)) for key in _keys(keys)):
        raise BadPageToken.field(PARAMETER, "not a token this list gave out; start again without one")
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):  # sealed by us, so only after a key leak
        raise BadPageToken.field(PARAMETER, "not a token this list gave out; start again without one") from None
    if not isinstance(body, dict) or "at" not in body:
        raise BadPageToken.field(PARAMETER, "not a token this list gave out; start again without one")
    if body.get("filters") != _filters_digest(filters):
        raise BadPageToken.field(
            PARAMETER,
            "it belongs to this list with other filters; keep the filters of the first page, "
            "or start again without a token",
        )
    return body["at"]
