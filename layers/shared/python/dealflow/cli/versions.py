"""``dealflow versions list | show | diff | rollback``: the saved versions of one automation,
pipeline, custom field or constant — who saved each, when and why, what one held, what changed
between two — and an older one made current again, through the tenant's management API
(``GET …/versions``, ``GET …/versions/{n}``, ``GET …/diff``, ``POST …/rollback``), as its console
shows them. Reading is for every role; rollback for administrators, as in the API."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from dealflow.api.versions import MAX_PAGE
from dealflow.authoring.document_text import to_yaml
from dealflow.cli.api_target import ApiTarget, api_options, api_target_of

# Each versioned kind's resource in the API (``dealflow.api.versions.KINDS``).
BASES = {"automation": "/automation", "pipeline": "/pipelines", "field": "/fields", "constant": "/constants"}
_MARKS = {"added": "+", "removed": "-", "changed": "~"}  # as `dealflow plan` marks its lines


def _base(args: argparse.Namespace) -> str:
    return f"{BASES[args.kind]}/{quote(args.id, safe='')}"


def _saved(version: dict[str, Any]) -> str:
    """One version as a line: its number, when, by whom, and its message."""
    who = version.get("saved_by") or "(unknown)"
    message = f"  {version['message']}" if version.get("message") else ""
    return f"v{version['version']:<5} {version.get('saved_at') or '(unknown time)':<27} {who}{message}"


def list_versions(args: argparse.Namespace, api: ApiTarget) -> int:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while len(found) < args.limit:
        query = {"limit": str(min(args.limit - len(found), MAX_PAGE)), **({"next_token": token} if token else {})}
        page = api.json("GET", f"{_base(args)}/versions", query=query)
        found += page["items"]
        token = page.get("next_token")
        if not token:
            break
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(f"{args.kind} {args.id}: {len(found)} version{'s' if len(found) != 1 else ''}, newest first")
    for version in found:
        print("  " + _saved(version))
    if token:
        print(f"  … older ones too (--limit {args.limit * 2})")
    return 0


def show(args: argparse.Namespace, api: ApiTarget) -> int:
    version = api.json("GET", f"{_base(args)}/versions/{args.version}")
    if args.json:
        print(json.dumps(version, indent=2))
        return 0
    print("# " + _saved(version))
    print(to_yaml(version["body"]), end="")
    return 0


def diff(args: argparse.Namespace, api: ApiTarget) -> int:
    query = {name: str(value) for name, value in (("from", args.from_version), ("to", args.to_version)) if value}
    found = api.json("GET", f"{_base(args)}/diff", query=query)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    changes = found["changes"]
    print(f"{args.kind} {args.id}: v{found['from_version']} → v{found['to_version']}, {len(changes)} change(s)")
    for change in changes:
        print(f"  {_MARKS[change['change']]} {change['text']}")
    return 0


def rollback(args: argparse.Namespace, api: ApiTarget) -> int:
    body = {"version": args.version, **({"message": args.message} if args.message else {})}
    now = api.json("POST", f"{_base(args)}/rollback", body=body)
    print(f"{args.kind} {args.id} is now v{now['version']}, the content of v{args.version}")
    return 0


def add_commands(commands: Any, _where: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "versions",
        help="the saved versions of an automation, pipeline, field or constant; roll one back",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    api = api_options()
    for name, run, summary in (
        ("list", list_versions, "who saved each version, when and why, newest first"),
        ("show", show, "one version's whole content (YAML, as `dealflow export` writes it)"),
        ("diff", diff, "what changed between two versions (default: what the last save changed)"),
        ("rollback", rollback, "make an older version current again, or bring a deleted one back"),
    ):
        action = actions.add_parser(name, parents=[api], help=summary, description=summary)
        action.add_argument("kind", choices=sorted(BASES), help="what is versioned")
        action.add_argument("id", help="its id (a field's code, a constant's name)")
        action.set_defaults(run=run, where=api_target_of)
        if name in ("show", "rollback"):
            action.add_argument("version", type=int, help="the version's number")
        if name != "rollback":
            action.add_argument("--json", action="store_true", help="the API's answer as JSON")
    actions.choices["list"].add_argument("--limit", type=int, default=20, help="versions at most (default 20)")
    actions.choices["diff"].add_argument("--from", dest="from_version", type=int, help="the older version")
    actions.choices["diff"].add_argument("--to", dest="to_version", type=int, help="the newer version")
    actions.choices["rollback"].add_argument(
        "-m", "--message", help="why (kept with the new version; default: 'rollback to version N')"
    )
