"""``dealflow tenant create | show | list | set-plan``: a tenant is one company's CRM; until it
exists, every API call with its token answers 403 "unknown tenant"."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import ValidationError

from dealflow.cli.errors import CliError, problems
from dealflow.cli.target import Target
from dealflow.cli.webhook_secret import secret_status
from dealflow.model import Tenant
from dealflow.model.plan import PLANS, PlanName
from dealflow.policy.plans import Usage, usage_of
from dealflow.store.tenants import TenantExists

PLAN_NAMES = [p.value for p in PlanName]
DEFAULT_PLAN = Tenant.model_fields["plan"].default.value


def _plans_help() -> str:
    return "; ".join(
        f"{p.name.value} ({p.max_active_automations} automation switched on: {', '.join(p.kinds)}; "
        f"{p.max_active_field_step_workflows} field–step workflows)"
        for p in PLANS.values()
    )


def create(args: argparse.Namespace, target: Target) -> int:
    values: dict[str, Any] = {"id": args.tenant_id, "name": args.name}
    if args.plan:
        values["plan"] = args.plan
    if args.reply_to:
        values["sender_email"] = args.reply_to
    try:
        tenant = Tenant.model_validate(values)
    except ValidationError as exc:
        raise CliError(f"tenant not created: {problems(exc)}") from None
    try:
        target.tenants.create(tenant)
    except TenantExists as exc:
        raise CliError(f"{exc} (dealflow tenant show {tenant.id})") from None
    print(f"created tenant {tenant.id} ({tenant.name}) on the {tenant.plan.value} plan in {target.where}")
    print("next:")
    print(f"  dealflow user add {tenant.id} USER_ID --name NAME --email EMAIL --role admin")
    print(f"  dealflow webhook-secret rotate {tenant.id}   # if outside systems will send it webhooks")
    return 0


def _usage_lines(usage: Usage) -> list[str]:
    on = ", ".join(f"{kind} {count}" for kind, count in usage.by_kind.items() if count) or "none"
    lines = [
        f"plan: {usage.plan} (includes {', '.join(usage.kinds)})",
        f"automation switched on: {usage.automation.active} of {usage.automation.limit} ({on})",
        f"field–step workflows switched on: {usage.field_step_workflows.active} of {usage.field_step_workflows.limit}",
    ]
    if usage.automation.active > usage.automation.limit:
        over = usage.automation.active - usage.automation.limit
        lines.append(
            f"  over the plan by {over}: what is on stays on, and nothing more can be switched on until "
            f"fewer than {usage.automation.limit} are"
        )
    beyond = {kind: n for kind, n in usage.by_kind.items() if n and kind not in usage.kinds}
    for kind, count in beyond.items():
        lines.append(
            f"  the {usage.plan} plan does not include {kind}: {count} switched on stay on, "
            "but none can be stored or switched on"
        )
    return lines


def show(args: argparse.Namespace, target: Target) -> int:
    known = target.automation.load(args.tenant_id)
    tenant: Tenant = known.tenant
    usage = usage_of(known)
    secret = secret_status(target, tenant.id)
    if args.json:
        body = tenant.model_dump(mode="json") | {"usage": usage.model_dump(mode="json"), "webhook_secret": secret}
        print(json.dumps(body, indent=2))
        return 0
    print(f"tenant {tenant.id}: {tenant.name}")
    for line in _usage_lines(usage):
        print(line)
    sender = target.sender or "the stack's SenderEmail"
    print(f"e-mail from: {tenant.name} <{sender}>; replies to: {tenant.sender_email or sender}")
    print(f"automation version: {tenant.automation_version}; with broken references: {len(known.warnings)}")
    print(f"webhook secret: {secret}")
    print(f"users ({len(tenant.users)}):")
    for user in tenant.users:
        print(f"  {user.id:<20} {user.role.value:<14} {user.name} <{user.email}>")
    for kind in ("constants", "variables"):
        values = getattr(tenant, kind)
        print(f"{kind}: {', '.join(sorted(values)) or 'none'}")
    return 0


def list_all(args: argparse.Namespace, target: Target) -> int:
    tenants = sorted(target.tenants.all(), key=lambda t: t.id)
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in tenants], indent=2))
        return 0
    if not tenants:
        print(f"no tenants in {target.where} (dealflow tenant create ID --name NAME)")
        return 0
    print(f"{'ID':<24} {'PLAN':<11} {'USERS':>5}  NAME")
    for tenant in tenants:
        print(f"{tenant.id:<24} {tenant.plan.value:<11} {len(tenant.users):>5}  {tenant.name}")
    return 0


def set_plan(args: argparse.Namespace, target: Target) -> int:
    before = target.automation.get_tenant(args.tenant_id).plan
    target.tenants.set_plan(args.tenant_id, PlanName(args.plan))
    print(f"tenant {args.tenant_id}: plan {before.value} → {args.plan}")
    for line in _usage_lines(usage_of(target.automation.load(args.tenant_id))):
        print(line)
    return 0


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    tenant = commands.add_parser(
        "tenant",
        help="create, show, list tenants; change a tenant's plan",
        description="A tenant is one company's CRM: its users, plan, pipelines and automation. The "
        "management API answers 403 'unknown tenant' to every token naming a tenant that does not exist.",
    )
    sub = tenant.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sub.add_parser(
        "create",
        parents=[where],
        help="create a tenant (no users yet)",
        description="Create a tenant with no users, pipelines or automation. Fails if the id is taken.",
        epilog="example: dealflow tenant create acme --name 'Acme Ltd' --plan team --stack dealflow",
    )
    p.add_argument(
        "tenant_id", metavar="ID", help="the tenant id tokens carry as custom:tenant_id (letters, digits, _.:-)"
    )
    p.add_argument("--name", required=True, help="the company's name, as e-mails and templates show it")
    p.add_argument(
        "--plan", choices=PLAN_NAMES, help=f"what the tenant pays for (default: {DEFAULT_PLAN}). {_plans_help()}"
    )
    p.add_argument(
        "--reply-to",
        metavar="EMAIL",
        help="where replies to the tenant's automation e-mails go; they come from the stack's verified "
        "SenderEmail under the tenant's name (SES sends only as identities the stack verified)",
    )
    p.set_defaults(run=create)

    p = sub.add_parser(
        "show",
        parents=[where],
        help="a tenant's plan and usage, users, webhook secret state",
        description="Show a tenant: plan and how much of it is in use, users and their roles, constants "
        "and variables by name, whether a webhook secret is set, how much automation has broken references.",
    )
    p.add_argument("tenant_id", metavar="ID", help="the tenant id")
    p.add_argument("--json", action="store_true", help="print the tenant, its usage and secret state as JSON")
    p.set_defaults(run=show)

    p = sub.add_parser(
        "list",
        parents=[where],
        help="every tenant of the stack",
        description="List every tenant (a scan of AutomationTable: fine for an operator, not for a hot path).",
    )
    p.add_argument("--json", action="store_true", help="print the tenants as a JSON list")
    p.set_defaults(run=list_all)

    p = sub.add_parser(
        "set-plan",
        parents=[where],
        help="change a tenant's plan",
        description="Change a tenant's plan. A downgrade switches nothing off: automation over the new "
        "plan's cap, or of a kind it lacks, stays on, and the API refuses to store or switch on more. "
        f"Plans: {_plans_help()}.",
    )
    p.add_argument("tenant_id", metavar="ID", help="the tenant id")
    p.add_argument("plan", metavar="PLAN", choices=PLAN_NAMES, help=f"one of {', '.join(PLAN_NAMES)}")
    p.set_defaults(run=set_plan)
