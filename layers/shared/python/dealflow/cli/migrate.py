"""``dealflow migrate run-keys``: move run-log entries written before write sharding onto their
sharded index keys (``dealflow.store.run_keys``). Safe to run while the stack serves traffic, to stop
and run again: each run picks up what is left."""

from __future__ import annotations

import argparse
from typing import Any

from dealflow.cli.errors import CliError
from dealflow.cli.target import Target
from dealflow.store.run_keys import move_run_keys
from dealflow.store.shards import SHARDS


def run_keys(args: argparse.Namespace, target: Target) -> int:
    if args.page_size < 1:
        raise CliError("--page-size must be at least 1")
    tenant_ids = args.tenant_ids or sorted(t.id for t in target.tenants.all())
    verb = "would move" if args.dry_run else "moved"
    total = 0
    for tenant_id in tenant_ids:
        moved = skipped = 0
        for page in move_run_keys(target.automation_items, tenant_id, dry_run=args.dry_run, page_size=args.page_size):
            moved, skipped = moved + page.moved, skipped + page.skipped
            if page.read and args.verbose:
                print(f"{tenant_id}: {verb} {moved} so far")
        note = f" ({skipped} already moved by their runs)" if skipped else ""
        print(f"{tenant_id}: {verb} {moved} run-log entries to sharded keys{note}")
        total += moved
    if args.dry_run:
        print(f"dry run: nothing written in {target.where}; {total} entries to move")
    elif total == 0:
        print(f"nothing left to move in {target.where}")
    return 0


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "migrate",
        help="move stored items to the layout the deployed code writes",
        description="One-off rewrites of stored items after a deploy that changes how items are keyed. "
        "Each is paged, idempotent and resumable: stop it at any time and run it again.",
    )
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser(
        "run-keys",
        parents=[where],
        help="move run-log entries written before write sharding onto sharded index keys",
        description=f"Runs are listed per tenant and per automation through index keys spread over "
        f"{SHARDS} shards (tenant#RUN~07), so a busy tenant's writes do not all land on one partition. "
        "Entries written before that keep the old single key; listings still read it, so nothing is "
        "missing meanwhile, but every listing pays one more query until this has run. Run after the "
        "deploy that brought sharding, once per stack; a second run reports nothing to move.",
        epilog="dealflow migrate run-keys --dry-run --stack dealflow; then without --dry-run",
    )
    p.add_argument("tenant_ids", metavar="TENANT", nargs="*", help="only these tenants (default: every tenant)")
    p.add_argument("--dry-run", action="store_true", help="count what would move, write nothing")
    p.add_argument("--page-size", type=int, default=100, help="entries read per query (default 100)")
    p.add_argument("--verbose", action="store_true", help="print progress after every page")
    p.set_defaults(run=run_keys)
