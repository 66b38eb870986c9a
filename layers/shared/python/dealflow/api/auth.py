"""Who is calling: tenant, user and role come only from the claims the API Gateway JWT authorizer
verified (``requestContext.authorizer.jwt.claims``), never from the path, the query or the body.

Claims (Cognito custom attributes, or the same names from any OIDC issuer):

    sub               the user id
    custom:tenant_id  the tenant the user belongs to
    custom:role       admin | sales_manager | sales_rep

Missing or malformed claims are a 401. Which role may do what is decided here, before a body is
even read, so a sales rep's PUT of a broken rule is a 403, not a 422 that leaks the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dealflow.api.errors import Forbidden, Unauthorized

# The models (pydantic) load with the first request that has claims to check, not at a cold start.
if TYPE_CHECKING:
    from dealflow.model import Role

USER_CLAIM = "sub"
TENANT_CLAIM = "custom:tenant_id"
ROLE_CLAIM = "custom:role"

# Served without a token (the HTTP API routes them without the authorizer too).
PUBLIC_PATHS = frozenset({"/openapi.json", "/swagger"})
# Only administrators change these: automation of every kind, custom fields, pipelines, rights,
# field–step workflows, the constants and variables automation reads, imports.
ADMIN_RESOURCES = (
    "/automation",
    "/fields",
    "/pipelines",
    "/constants",
    "/variables",
    "/rights",
    "/field-step-workflows",
    "/export",
    "/import",
    "/calendar",
    "/users",
)
# Only administrators read these either: the export holds the whole automation, constants included.
ADMIN_READS = frozenset({"/export"})
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    user_id: str
    role: Role

    @property
    def is_admin(self) -> bool:
        from dealflow.model import Role

        return self.role is Role.ADMIN


def claims_of(event: Mapping[str, Any]) -> dict[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return ((authorizer.get("jwt") or {}).get("claims")) or {}


def caller_of(event: Mapping[str, Any]) -> Caller:
    from dealflow.model import Role
    from dealflow.model.base import ID_PATTERN

    claims = claims_of(event)
    missing = [c for c in (USER_CLAIM, TENANT_CLAIM, ROLE_CLAIM) if not claims.get(c)]
    if missing:
        raise Unauthorized(f"the token lacks the claims {', '.join(missing)}", claims=missing)
    tenant_id, role = str(claims[TENANT_CLAIM]), str(claims[ROLE_CLAIM])
    if not ID_PATTERN.match(tenant_id) or len(tenant_id) > 64:
        raise Unauthorized(f"claim {TENANT_CLAIM} is not a tenant id")
    try:
        parsed = Role(role)
    except ValueError:
        raise Unauthorized(f"claim {ROLE_CLAIM} is not a role ({', '.join(r.value for r in Role)})") from None
    return Caller(tenant_id=tenant_id, user_id=str(claims[USER_CLAIM]), role=parsed)


def _resource(path: str) -> str | None:
    return next((r for r in ADMIN_RESOURCES if path == r or path.startswith(r + "/")), None)


def authorize(method: str, path: str, caller: Caller) -> None:
    """Raise Forbidden unless the caller's role may call ``method path``."""
    resource = _resource(path)
    if resource and (method.upper() not in _READS or resource in ADMIN_READS) and not caller.is_admin:
        verb = "change" if method.upper() not in _READS else "read"
        raise Forbidden(
            f"only administrators may {verb} {resource.lstrip('/')} (your role is {caller.role.value})",
            role=caller.role.value,
        )


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS
