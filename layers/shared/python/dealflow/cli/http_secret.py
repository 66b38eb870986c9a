"""``dealflow http-secret``: the secrets a tenant's ``http_request`` actions use, as SSM
SecureStrings under ``{prefix}/{tenant}/http/``: the outgoing signing secret every request is
signed with (made here and printed once), and secret header values named by ``secret_headers``
(given on standard input, never on the command line, where the shell history would keep it)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from botocore.exceptions import ClientError

from dealflow.aws.secrets import SECRET_MAX_AGE_SECONDS, http_secret_name
from dealflow.cli.errors import CliError
from dealflow.cli.target import Target
from dealflow.cli.webhook_secret import new_secret
from dealflow.webhooks.signing import parse_secrets

CACHE_MINUTES = SECRET_MAX_AGE_SECONDS // 60


def _current(target: Target, name: str) -> list[str]:
    try:
        reply = target.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return []
        raise
    return parse_secrets(reply["Parameter"]["Value"])


def _put(target: Target, name: str, value: str, description: str) -> None:
    target.client("ssm").put_parameter(
        Name=name, Value=value, Type="SecureString", Overwrite=True, Description=description
    )


def signing(args: argparse.Namespace, target: Target) -> int:
    tenant_id = args.tenant_id
    target.automation.get_tenant(tenant_id)  # an unknown tenant is an error, not a new parameter
    name = http_secret_name(target.secret_prefix, tenant_id)
    lines = _current(target, name)
    if args.finish:
        if len(lines) < 2:
            raise CliError(f"no rotation to finish: {name} holds {len(lines)} secret(s)")
        _put(target, name, lines[0], f"Dealflow outgoing signing secret of tenant {tenant_id}")
        print(f"rotation finished: {name} holds only the signing secret; receivers may drop the old one.")
        return 0
    secret = new_secret()
    # The first line signs; the old one stays below it for receivers still checking with it.
    kept = [] if args.replace or not lines else lines[:1]
    _put(target, name, "\n".join([secret, *kept]), f"Dealflow outgoing signing secret(s) of tenant {tenant_id}")
    print(f"new outgoing signing secret of tenant {tenant_id} (shown this once; give it to the receivers):")
    print(secret)
    print(f"Requests are signed with it within {CACHE_MINUTES} minutes (the runners' cache).")
    if kept:
        print(f"The old secret is kept as a second line; `dealflow http-secret signing {tenant_id} --finish` drops it.")
    return 0


def header(args: argparse.Namespace, target: Target) -> int:
    tenant_id = args.tenant_id
    target.automation.get_tenant(tenant_id)
    value = sys.stdin.readline().strip()
    if not value:
        raise CliError("give the secret's value on standard input (one line)")
    name = http_secret_name(target.secret_prefix, tenant_id, args.name)
    _put(target, name, value, f"Dealflow http_request secret header '{args.name}' of tenant {tenant_id}")
    print(f'stored {name}; actions naming "{args.name}" in secret_headers send it within {CACHE_MINUTES} minutes.')
    return 0


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "http-secret",
        help="make a tenant's outgoing signing secret, or store a secret header for http_request",
        description="http_request actions sign every request with the tenant's outgoing signing secret "
        "(X-Dealflow-Signature, as webhooks) and send secret header values by name: SSM SecureStrings "
        "at {WebhookSecretPrefix}/{tenant_id}/http/signing-secret and .../http/headers/{name}. Runners "
        f"cache them for {CACHE_MINUTES} minutes.",
    )
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser(
        "signing",
        parents=[where],
        help="make or rotate the outgoing signing secret (printed once)",
        description="Makes a new signing secret and signs with it from now on; the previous one stays as "
        "a second line (receivers may accept both) until --finish.",
    )
    p.add_argument("tenant_id", metavar="TENANT", help="the tenant id")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--finish", action="store_true", help="end a rotation: keep only the signing secret")
    how.add_argument("--replace", action="store_true", help="replace every secret at once (a leaked secret)")
    p.set_defaults(run=signing)
    p = sub.add_parser(
        "header",
        parents=[where],
        help="store a secret header value (read from standard input)",
        description="Stores the value an action's secret_headers names, e.g. an API token: "
        '`printf %s "$TOKEN" | dealflow http-secret header acme erp-token --stack dealflow`.',
    )
    p.add_argument("tenant_id", metavar="TENANT", help="the tenant id")
    p.add_argument("name", metavar="NAME", help="the secret's name, as secret_headers gives it ([A-Za-z0-9_.-])")
    p.set_defaults(run=header)
