"""``dealflow webhook-secret rotate``: a tenant's webhook secret, an SSM SecureString holding one
secret per line. The receiver accepts a signature made with any line, so a rotation adds the new
secret beside the old one, senders switch, and ``--finish`` drops the old one."""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from botocore.exceptions import ClientError

from dealflow.aws.secrets import SECRET_MAX_AGE_SECONDS
from dealflow.cli.errors import CliError
from dealflow.cli.target import Target
from dealflow.webhooks.signing import parse_secrets

CACHE_MINUTES = SECRET_MAX_AGE_SECONDS // 60


def _current(target: Target, tenant_id: str) -> list[str]:
    try:
        reply = target.client("ssm").get_parameter(Name=target.secret_name(tenant_id), WithDecryption=True)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return []
        raise
    return parse_secrets(reply["Parameter"]["Value"])


def _store(target: Target, tenant_id: str, lines: list[str]) -> None:
    target.client("ssm").put_parameter(
        Name=target.secret_name(tenant_id),
        Value="\n".join(lines),
        Type="SecureString",
        Overwrite=True,
        Description=f"Dealflow webhook secret(s) of tenant {tenant_id}, one per line",
    )


def secret_status(target: Target, tenant_id: str) -> str:
    """How the tenant's webhook secret stands, in a few words (the secret itself is never shown)."""
    count = len(_current(target, tenant_id))
    if count == 0:
        return f"not set (dealflow webhook-secret rotate {tenant_id})"
    if count == 1:
        return "set"
    return f"rotating: {count} secrets accepted (dealflow webhook-secret rotate {tenant_id} --finish)"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def rotate(args: argparse.Namespace, target: Target) -> int:
    tenant_id = args.tenant_id
    target.automation.get_tenant(tenant_id)  # an unknown tenant is an error, not a new parameter
    name = target.secret_name(tenant_id)
    lines = _current(target, tenant_id)
    if args.finish:
        if len(lines) < 2:
            raise CliError(f"no rotation to finish: {name} holds {len(lines)} secret(s)")
        _store(target, tenant_id, lines[-1:])
        print(f"rotation finished: {name} now holds only the newest secret.")
        print(f"The old one stops working within {CACHE_MINUTES} minutes (the receivers' cache).")
        return 0
    if len(lines) > 1 and not args.replace:
        raise CliError(
            f"a rotation is under way ({name} holds {len(lines)} secrets): finish it first with "
            f"`dealflow webhook-secret rotate {tenant_id} --finish`, or start over with --replace"
        )
    secret = new_secret()
    kept = [] if args.replace or not lines else lines[-1:]
    _store(target, tenant_id, [*kept, secret])
    print(f"new webhook secret of tenant {tenant_id} (shown this once; give it to the senders):")
    print(secret)
    if kept:
        print(
            f"The old secret stays valid beside it. Within {CACHE_MINUTES} minutes the receivers accept both; "
            f"then switch every sender to the new secret and run `dealflow webhook-secret rotate {tenant_id} "
            "--finish` to drop the old one."
        )
    elif lines:
        print(f"Every earlier secret was replaced: it stops working within {CACHE_MINUTES} minutes.")
    else:
        print(
            f"Receivers accept it within {CACHE_MINUTES} minutes at the latest (tenants without a secret are "
            "remembered for a minute)."
        )
    return 0


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "webhook-secret",
        help="make or rotate a tenant's webhook signing secret",
        description="Webhooks (POST /webhooks/{tenant_id}) are signed with HMAC-SHA256 and the tenant's "
        "secret: an SSM SecureString at {WebhookSecretPrefix}/{tenant_id}/webhook-secret, one secret per "
        "line; a signature made with any line is accepted. Receivers cache it for "
        f"{CACHE_MINUTES} minutes.",
    )
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser(
        "rotate",
        parents=[where],
        help="make a tenant's first secret, or rotate it without downtime",
        description="Without a secret yet: make one. With one: add a new secret beside it (both are "
        "accepted), so senders can switch at their own pace; then --finish drops the old one. The new "
        "secret is printed once and never again.",
        epilog="rotation: (1) dealflow webhook-secret rotate acme → new secret printed; "
        f"(2) wait {CACHE_MINUTES} minutes, switch the senders; "
        "(3) dealflow webhook-secret rotate acme --finish. A leaked secret: --replace.",
    )
    p.add_argument("tenant_id", metavar="TENANT", help="the tenant id")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--finish", action="store_true", help="end a rotation: keep only the newest secret")
    how.add_argument(
        "--replace",
        action="store_true",
        help="replace every secret with a new one at once (a leaked secret; senders fail until switched)",
    )
    p.set_defaults(run=rotate)
