"""Automation as code: ``dealflow export | validate | diff | plan | apply | test`` over a directory of
YAML files (``code_files``), through the tenant's management API (``GET /export``, ``POST /import``
— whose one transaction makes ``apply`` all or nothing — and ``POST /automation/{id}/tests/run``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter, ValidationError

from dealflow.authoring.checks import AUTOMATION
from dealflow.cli.api_target import ApiRefused, ApiTarget, api_options, api_target_of
from dealflow.cli.code_files import FOLDERS, Problem, file_of, read_directory, write_directory
from dealflow.cli.code_plan import file_diff, render_plan
from dealflow.cli.errors import CliError
from dealflow.http_errors import problems_from
from dealflow.model import FieldDefinition, Pipeline
from dealflow.model.tenant import TypedValues
from dealflow.model.workflow import FieldStepWorkflow

# The version message of an apply (the API records it with each version it writes; an API that
# keeps no versions ignores the header). Percent-encoded: a header carries Latin-1 only.
MESSAGE_HEADER = "X-Version-Message"  # the API keeps it with the versions the import writes
_MODELS: dict[str, Any] = {
    "pipelines": Pipeline.model_validate,
    "automation": AUTOMATION.validate_python,
    "field_step_workflows": FieldStepWorkflow.model_validate,
}
_CONSTANTS = TypeAdapter(TypedValues)


def fetch_document(api: ApiTarget) -> dict[str, Any]:
    """The tenant's export document, its pages put together (later pages hold only automation)."""
    document = api.json("GET", "/export")
    token = document.pop("next_token", None)
    while token:
        page = api.json("GET", "/export", query={"next_token": token})
        document["automation"] += page.get("automation") or []
        token = page.get("next_token")
    return dict(document)


def local_problems(document: dict[str, Any]) -> list[Problem]:
    """What each file gets wrong by the models alone; references are the server's to check."""
    found: list[dict[str, str]] = []
    for section, parse in _MODELS.items():
        key = FOLDERS[section][1]
        for item in document.get(section) or []:
            try:
                parse(item)
            except ValidationError as exc:
                found += problems_from(exc, f"{section}.{item.get(key)}")
    for i, item in enumerate(document.get("fields") or []):
        try:
            FieldDefinition.model_validate(item)
        except ValidationError as exc:
            code = item.get("code") if isinstance(item, dict) else None
            found += problems_from(exc, f"fields.{code or i}")
    try:
        _CONSTANTS.validate_python(document.get("constants") or {})
    except ValidationError as exc:
        found += problems_from(exc, "constants")
    return [Problem(*file_of(p["field"], document), p["problem"]) for p in found]


def _checked(directory: Path) -> dict[str, Any]:
    """The directory's document, or CliError listing every problem of its files."""
    document, problems = read_directory(directory)
    problems += local_problems(document)
    if problems:
        raise CliError(f"{directory}: {_count(problems)}:\n" + "\n".join(f"  {p}" for p in problems))
    return document


def _count(problems: list[Any]) -> str:
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"


def dry_run(api: ApiTarget, document: dict[str, Any]) -> list[dict[str, str]]:
    """The import's listing of what it would change; its 422 as the files' problems."""
    try:
        result = api.json("POST", "/import", query={"dry_run": "true"}, body=document)
    except ApiRefused as exc:
        if exc.status == 422 and exc.problems:
            lines = [f"  {Problem(*file_of(p['field'], document), p['problem'])}" for p in exc.problems]
            raise CliError(f"the API refuses the directory ({_count(lines)}):\n" + "\n".join(lines)) from None
        raise
    return list(result["changes"])


def export(args: argparse.Namespace, api: ApiTarget) -> int:
    directory = Path(args.directory)
    changes = write_directory(fetch_document(api), directory)
    for relative, what in changes.items():
        if what != "unchanged":
            print(f"  {what:8} {relative}")
    counts = {w: sum(1 for c in changes.values() if c == w) for w in ("created", "updated", "deleted", "unchanged")}
    print(
        f"Exported to {directory}: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['deleted']} deleted, {counts['unchanged']} unchanged"
    )
    return 0


def validate(args: argparse.Namespace, api: ApiTarget | None) -> int:
    document = _checked(Path(args.directory))
    if api is None:
        print(f"{args.directory}: every file is well formed (references not checked: --offline)")
        return 0
    listing = dry_run(api, document)
    changing = sum(1 for c in listing if c["change"] != "unchanged")
    print(
        f"{args.directory} is valid: {len(listing)} definitions, {changing} would change (`dealflow plan` lists them)"
    )
    return 0


def diff(args: argparse.Namespace, api: ApiTarget) -> int:
    text = file_diff(fetch_document(api), _checked(Path(args.directory)))
    print(text or "No differences.", end="" if text else "\n")
    return 0


def _plan(args: argparse.Namespace, api: ApiTarget) -> tuple[dict[str, Any], int]:
    document = _checked(Path(args.directory))
    listing = dry_run(api, document)
    text, total = render_plan(listing, fetch_document(api), document)
    print(text)
    return document, total


def plan(args: argparse.Namespace, api: ApiTarget) -> int:
    _plan(args, api)
    return 0


def apply(args: argparse.Namespace, api: ApiTarget) -> int:
    document, total = _plan(args, api)
    if not total:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("not applied: confirm with --yes (no terminal to ask on)")
        if input("\nApply these changes? Only 'yes' applies: ").strip() != "yes":
            print("Not applied.")
            return 1
    message = args.message or f"dealflow apply {args.directory}"
    result = api.json(
        "POST", "/import", query={"dry_run": "false"}, body=document, headers={MESSAGE_HEADER: quote(message)}
    )
    done = [c for c in result["changes"] if c["change"] != "unchanged"]
    counts = {w: sum(1 for c in done if c["change"] == w) for w in ("create", "update", "delete")}
    print(
        f"\nApply complete: {counts['create']} created, {counts['update']} changed, {counts['delete']} deleted "
        "(one transaction)."
    )
    return 0


def test(args: argparse.Namespace, api: ApiTarget) -> int:
    ids = args.automation or [item["id"] for item in _checked(Path(args.directory))["automation"]]
    failed = 0
    for automation_id in ids:
        try:
            report = api.json("POST", f"/automation/{quote(automation_id, safe='')}/tests/run", body={})
        except ApiRefused as exc:
            if exc.no_route:
                raise CliError(
                    f"{api.where} has no saved tests (POST /automation/{{id}}/tests/run: {exc.body.get('reason')}); "
                    "deploy a version of Dealflow that has them"
                ) from None
            print(f"  ✗ {automation_id}: {exc}")
            failed += 1
            continue
        failed += report["failed"] > 0
        print(
            f"  {'✗' if report['failed'] else '✓'} {automation_id} ({report['tested']}): "
            f"{report['passed']} passed, {report['failed']} failed"
        )
        for result in report["results"]:
            for miss in result["failures"]:
                print(
                    f"      ✗ {result['name']}: {miss['check']}: expected {miss['expected']!r}, got {miss['actual']!r}"
                )
    print(f"{len(ids) - failed} of {len(ids)} automation passed their saved tests")
    return 1 if failed else 0


HELP = """\
Automation as code: keep a tenant's pipelines, fields, automation and constants in git as a
directory of YAML files (one per pipeline, per automation), and change the tenant from it.

  dealflow export DIR      write the tenant's automation into DIR (unchanged files keep their bytes)
  dealflow validate DIR    check the files, then the whole directory by the API's dry run
  dealflow diff DIR        unified diff per file: the tenant (a/) against DIR (b/)
  dealflow plan DIR        what apply would create (+), change (~) or delete (-)
  dealflow apply DIR       make the tenant exactly DIR: one transaction, all or nothing
  dealflow test DIR        run the saved tests of DIR's automation

These talk to the tenant's management API as one of its administrators (--api URL --token JWT,
or DEALFLOW_API_URL and DEALFLOW_TOKEN): a deployed stack's API URL, or the local API server."""


def add_commands(commands: Any, _where: argparse.ArgumentParser) -> None:
    api = api_options()
    for name, run, summary in (
        ("export", export, "write the tenant's automation into a directory of YAML files"),
        ("validate", validate, "check a directory: its files, then the API's dry run"),
        ("diff", diff, "unified diff per file between the tenant and a directory"),
        ("plan", plan, "what apply would create, change or delete"),
        ("apply", apply, "make the tenant's automation exactly a directory's, all or nothing"),
        ("test", test, "run the saved tests of a directory's automation"),
    ):
        p = commands.add_parser(
            name, parents=[api], help=summary, description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        p.add_argument("directory", metavar="DIR", help="the directory of YAML files")
        p.set_defaults(run=run, where=api_target_of)
    commands.choices["validate"].add_argument(
        "--offline", action="store_true", help="check the files only, without asking the API"
    )
    commands.choices["validate"].set_defaults(where=lambda args: None if args.offline else api_target_of(args))
    commands.choices["apply"].add_argument("--yes", action="store_true", help="apply without asking")
    commands.choices["apply"].add_argument(
        "-m", "--message", help="the version message recorded with the change (default: 'dealflow apply DIR')"
    )
    commands.choices["test"].add_argument(
        "--automation", action="append", metavar="ID", help="only this automation (repeatable); default: all in DIR"
    )
