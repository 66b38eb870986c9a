"""``dealflow user add | set-role | remove``: the people of a tenant as Dealflow knows them — whom
automation e-mails and notifies, whom a deal names as responsible.

Sign-in is the identity provider's: the management API takes user, tenant and role from the token's
claims (sub, custom:tenant_id, custom:role), so a user needs both a record here and an account there.
"""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from dealflow.cli.errors import CliError, problems
from dealflow.cli.target import Target
from dealflow.engine.references import broken_since
from dealflow.model import Role, Tenant, User

ROLES = [r.value for r in Role]


def _token_claims(tenant_id: str, user: User) -> str:
    return f"sub={user.id}, custom:tenant_id={tenant_id}, custom:role={user.role.value}"


def _existing(tenant: Tenant, user_id: str) -> User:
    user = tenant.user(user_id)
    if user is None:
        known = ", ".join(u.id for u in tenant.users) or "none"
        raise CliError(f"tenant '{tenant.id}' has no user '{user_id}' (its users: {known})")
    return user


def add(args: argparse.Namespace, target: Target) -> int:
    tenant = target.automation.get_tenant(args.tenant_id)
    if tenant.user(args.user_id) is not None:
        raise CliError(
            f"tenant '{tenant.id}' already has a user '{args.user_id}' (dealflow user set-role to change the role)"
        )
    try:
        user = User.model_validate({"id": args.user_id, "name": args.name, "email": args.email, "role": args.role})
    except ValidationError as exc:
        raise CliError(f"user not added: {problems(exc)}") from None
    target.tenants.replace_users(tenant.id, tenant.users, [*tenant.users, user])
    print(f"added {user.id} ({user.role.value}, {user.email}) to tenant {tenant.id}")
    print(f"the identity provider's tokens for this user must carry: {_token_claims(tenant.id, user)}")
    return 0


def set_role(args: argparse.Namespace, target: Target) -> int:
    tenant = target.automation.get_tenant(args.tenant_id)
    user = _existing(tenant, args.user_id)
    changed = user.model_copy(update={"role": Role(args.role)})
    target.tenants.replace_users(tenant.id, tenant.users, [changed if u.id == user.id else u for u in tenant.users])
    print(f"tenant {tenant.id}: {user.id} is now {changed.role.value} (was {user.role.value})")
    print(
        "change custom:role in the identity provider too (the API reads the role from the token): "
        + _token_claims(tenant.id, changed)
    )
    return 0


def _holding_values(tenant: Tenant, user_id: str) -> list[str]:
    """Constants and variables of type user whose value is this user."""
    return [
        f"{kind}.{name}"
        for kind in ("constants", "variables")
        for name, typed in getattr(tenant, kind).items()
        if typed.type == "user" and typed.value == user_id
    ]


def remove(args: argparse.Namespace, target: Target) -> int:
    known = target.automation.load(args.tenant_id)
    tenant: Tenant = known.tenant
    user = _existing(tenant, args.user_id)
    held = _holding_values(tenant, user.id)
    if held:
        # A tenant whose user-typed value names nobody is not a valid tenant: no --force for this.
        raise CliError(
            f"user '{user.id}' is the value of {', '.join(held)}: point {'it' if len(held) == 1 else 'them'} "
            "at another user first (PUT /constants/{name} or /variables/{name}), then remove the user"
        )
    remaining = [u for u in tenant.users if u.id != user.id]
    after = target.compiler.refresh(known, tenant.model_copy(update={"users": remaining}))
    deals = target.tenants.deals_of(tenant.id, user.id)
    consequences = [f"  {b.id} ({b.name}): {'; '.join(b.warnings)}" for b in broken_since(known, after)]
    if deals:
        shown = ", ".join(deals[:10]) + (f" and {len(deals) - 10} more" if len(deals) > 10 else "")
        consequences.append(
            f"  {len(deals)} deal(s) name {user.id} as responsible ({shown}): "
            "automation addressing 'the responsible' fails on them until they are reassigned"
        )
    if consequences and not args.force:
        raise CliError(
            f"removing {user.id} from tenant {tenant.id} would break:\n"
            + "\n".join(consequences)
            + "\nautomation that names a missing user is flagged and skipped until fixed (GET /warnings); "
            "fix these first, or pass --force to remove the user anyway"
        )
    target.tenants.replace_users(tenant.id, tenant.users, remaining)
    print(f"removed {user.id} from tenant {tenant.id}; disable the account in the identity provider too")
    if consequences:
        print("now broken (skipped by the dispatcher until fixed; GET /warnings lists them):")
        print("\n".join(consequences))
    return 0


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "user",
        help="add users to a tenant, change their role, remove them",
        description="The people of a tenant as Dealflow knows them: whom automation e-mails and notifies, "
        "whom a deal names as responsible. Signing in is the identity provider's business: the management "
        "API takes user, tenant and role from the token's claims (sub, custom:tenant_id, custom:role), so a "
        "user needs a record here and an account there, with the same id and role. Each user is an item of "
        "its own; a tenant stored by an older version with every user in its settings item has them moved "
        "out by its first user change here.",
    )
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    role_help = "admin (changes automation, pipelines, fields, rights), sales_manager, sales_rep"

    p = sub.add_parser(
        "add",
        parents=[where],
        help="add a user to a tenant",
        description="Add a user to a tenant: automation can then e-mail and notify them, and deals can name "
        "them as responsible. Prints the claims the identity provider's tokens must carry for them.",
        epilog="example: dealflow user add acme u-ada --name 'Ada Lovelace' --email ada@acme.example --role admin",
    )
    p.add_argument("tenant_id", metavar="TENANT", help="the tenant id")
    p.add_argument("user_id", metavar="USER_ID", help="the user's id: the token's sub claim (letters, digits, _.:-)")
    p.add_argument("--name", required=True, help="as e-mails and templates show it")
    p.add_argument("--email", required=True, help="where automation e-mails this user")
    p.add_argument("--role", choices=ROLES, default=Role.SALES_REP.value, help=f"{role_help} (default: sales_rep)")
    p.set_defaults(run=add)

    p = sub.add_parser(
        "set-role",
        parents=[where],
        help="change a user's role",
        description="Change the role Dealflow records for a user; the API reads the role from the token's "
        "custom:role claim, so change it in the identity provider as well.",
    )
    p.add_argument("tenant_id", metavar="TENANT", help="the tenant id")
    p.add_argument("user_id", metavar="USER_ID", help="the user's id (the token's sub claim)")
    p.add_argument("role", metavar="ROLE", choices=ROLES, help=role_help)
    p.set_defaults(run=set_role)

    p = sub.add_parser(
        "remove",
        parents=[where],
        help="remove a user from a tenant",
        description="Remove a user from a tenant. Refused while a user-typed constant or variable holds the "
        "user. Refused, unless --force, when automation names the user (as a recipient or workgroup member: "
        "it would be flagged with a broken reference and skipped until fixed) or deals name them as "
        "responsible; the refusal lists what would break.",
    )
    p.add_argument("tenant_id", metavar="TENANT", help="the tenant id")
    p.add_argument("user_id", metavar="USER_ID", help="the user's id (the token's sub claim)")
    p.add_argument("--force", action="store_true", help="remove the user even though automation or deals name them")
    p.set_defaults(run=remove)
