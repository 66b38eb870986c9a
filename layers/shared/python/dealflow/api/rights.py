"""Roles and rights: read the caller's effective rights (administrators: every role's), set one
role's rights (administrators, their own role included). And ``access``, how the other routes ask
what the caller's role may do with deals or leads."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from dealflow.api.auth import Caller
from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.errors import Invalid
from dealflow.api.schemas import RightsOverview
from dealflow.engine.compiled import TenantAutomation
from dealflow.model import Role
from dealflow.model.access import RoleRights
from dealflow.model.catalog import Automation
from dealflow.policy.access import Access, automation_entity, check_author, unknown_fields


def access(tenant: TenantAutomation, who: Caller, entity: str) -> Access:
    """What ``who``'s role may do with ``entity`` items of the tenant."""
    return Access.of(tenant.tenant, tenant.fields, who.role, entity)


def check_automation_author(automation: Automation, tenant: TenantAutomation, who: Caller) -> None:
    """Refuse (403, naming the field and where it is used) automation reading a field the author's
    role may not read."""
    check_author(automation, access(tenant, who, automation_entity(automation, tenant.pipelines) or "deal"))


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get("/rights", summary="Effective rights: the caller's role, or every role for administrators", tags=["rights"])
    def get_rights() -> RightsOverview:
        who = caller(r)
        tenant = known(deps(), who)
        roles = list(Role) if who.is_admin else [who.role]
        return RightsOverview(
            role=who.role,
            rights={
                role: RoleRights(
                    deals=Access.of(tenant.tenant, tenant.fields, role, "deal").effective(),
                    leads=Access.of(tenant.tenant, tenant.fields, role, "lead").effective(),
                )
                for role in roles
            },
        )

    @r.put(
        "/rights/<role>",
        summary="Set one role's rights on deals and leads (administrators)",
        tags=["rights"],
        description="Fields not named are writable while the entity is. Levels: hidden, read, write. "
        "Administrators' own rights are set here too (they bind automation they author).",
    )
    def put_rights(role: Role, rights: RoleRights) -> RoleRights:
        d, who = deps(), caller(r)
        problems = unknown_fields(rights, known(d, who).fields)
        if problems:
            raise Invalid(problems)
        d.automation.set_rights(who.tenant_id, role.value, rights)
        return rights

    return r
