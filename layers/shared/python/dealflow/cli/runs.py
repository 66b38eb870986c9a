"""``dealflow runs list | retry | cancel | resume``: the failed-run inbox and waiting runs of one
tenant, for operators — the same reads and the same engine code as ``GET /runs`` and
``POST /runs/...`` (``dealflow.engine.run_retries``), without a tenant's token."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import partial
from typing import Any

from dealflow.api.runs import started_since
from dealflow.aws.run_starter import LambdaRunStarter
from dealflow.cli.errors import CliError
from dealflow.cli.target import LOCAL_REGION, Target
from dealflow.engine.run_retries import Continued, RunConflict, cancel, resume, retry, retry_many
from dealflow.model import RunRecord
from dealflow.model.run import RunStatus
from dealflow.ports import RunStarter

STATUSES = list(RunStatus.__args__)  # type: ignore[attr-defined]
RUNNER_OUTPUT = "RunnerAliasArn"


class _LocalStarter:
    """The harness's run starter; a waiting run's execution lived in the harness that started it
    (another process), so there is nothing here to stop: its record is what changes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def start(self, request: Any) -> bool:
        return bool(self._inner.start(request))

    def stop(self, execution_id: str) -> bool:
        with suppress(KeyError):
            return bool(self._inner.stop(execution_id))
        return False


@contextmanager
def runner(target: Target, region: str | None) -> Iterator[tuple[RunStarter, Callable[..., Any]]]:
    """A run starter for ``target`` and what lets started runs go: on AWS the runner's alias (the
    runs go by themselves); on a moto server the local harness attached to it, whose runs go
    in-process until they finish or wait."""
    if target.endpoint is None:
        arn = target.outputs.get(RUNNER_OUTPUT)
        if not arn:
            raise CliError(f"{target.where} lacks the output {RUNNER_OUTPUT}: deploy the current template.yaml")
        yield LambdaRunStarter(target.client("lambda"), arn), lambda: None
        return
    from dealflow.local import MotoStack  # development only: moto and the durable testing SDK

    with MotoStack(endpoint=target.endpoint, attach=True, region=region or LOCAL_REGION) as stack:
        yield _LocalStarter(stack.runs_port), stack.drain


def _line(run: RunRecord) -> str:
    where = f" at {run.position}" if run.position else ""
    extra = f" retried by {run.retried_by}" if run.retried_by else ""
    wake = f" until {run.wake_at}" if run.status == "waiting" and run.wake_at else ""
    if run.status == "waiting" and run.waiting_for:  # a wait_for node: the event first, the timeout after
        wake = f" for {run.waiting_for}{wake}"
    why = f": {run.reason}" if run.reason and run.status != "waiting" else ""
    return (
        f"{run.run_id}  {run.started_at}  {run.status}{wake}{where}  {run.automation_id} on {run.deal_id}{why}{extra}"
    )


def list_runs(args: argparse.Namespace, target: Target) -> int:
    found, _ = target.run_log.page(
        args.tenant_id,
        status=args.status,
        automation_id=args.automation,
        deal_id=args.deal,
        since=started_since(args.since),
        reason=args.reason,
        retried=args.retried,
        limit=args.limit,
    )
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in found], indent=2))
        return 0
    for run in found:
        print(_line(run))
    print(f"{len(found)} run(s) in {target.where}")
    return 0


def _run(target: Target, tenant_id: str, run_id: str) -> RunRecord:
    run = target.run_log.get(tenant_id, run_id)
    if run is None:
        raise CliError(f"no run '{run_id}' in tenant {tenant_id} (dealflow runs list {tenant_id} shows them)")
    return run


def _continued(how: str, done: Continued) -> str:
    state = "started" if done.started else "started before, by the same request"
    return f"{done.run_id} {how} by {done.new_run_id} ({state}; from {done.start}, version {done.version})"


def retry_runs(args: argparse.Namespace, target: Target) -> int:
    known = target.automation.load(args.tenant_id)
    options: dict[str, Any] = {"start": args.start, "version": args.version, "request_id": args.request_id}
    with runner(target, args.region) as (starter, settle):
        if args.run_id:
            try:
                done = retry(target.run_log, starter, _run(target, args.tenant_id, args.run_id), known, **options)
            except RunConflict as exc:
                raise CliError(str(exc)) from None
            settle()
            print(_continued("retried", done))
            return 0
        pages = partial(
            target.run_log.page,
            args.tenant_id,
            status="failed",
            automation_id=args.automation,
            deal_id=args.deal,
            since=started_since(args.since),
            reason=args.reason,
        )
        bulk = retry_many(target.run_log, starter, known, pages, args.limit, **options)
        settle()
    for done in bulk.retried:
        print(_continued("retried", done))
    for run_id, why in bulk.skipped:
        print(f"{run_id} skipped: {why}")
    more = " (more may match: run it again)" if bulk.more else ""
    print(f"{len(bulk.retried)} retried, {len(bulk.skipped)} skipped{more}")
    return 0


def cancel_run(args: argparse.Namespace, target: Target) -> int:
    with runner(target, args.region) as (starter, _):
        try:
            cancel(target.run_log, starter, _run(target, args.tenant_id, args.run_id), "cancelled by an operator")
        except RunConflict as exc:
            raise CliError(str(exc)) from None
    print(f"{args.run_id} cancelled")
    return 0


def resume_run(args: argparse.Namespace, target: Target) -> int:
    with runner(target, args.region) as (starter, settle):
        try:
            done = resume(target.run_log, starter, _run(target, args.tenant_id, args.run_id), args.request_id)
        except RunConflict as exc:
            raise CliError(str(exc)) from None
        settle()
    print(_continued("resumed early", done))
    return 0


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 moment: {text!r} (e.g. 2026-11-23T09:00:00Z)") from None


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--automation", metavar="ID", help="only runs of this automation")
    p.add_argument("--deal", metavar="ID", help="only runs on this deal or lead")
    p.add_argument("--since", type=_moment, metavar="ISO", help="only runs started at or after this moment")
    p.add_argument("--reason", metavar="TEXT", help="only runs whose reason contains TEXT (case counts)")


HELP = """\
The failed-run inbox and waiting runs of one tenant.

  dealflow runs list acme --status failed [--automation ID] [--deal ID] [--since ISO] [--reason TEXT]
  dealflow runs list acme --status waiting
  dealflow runs retry acme RUN_ID [--from start] [--version current]
  dealflow runs retry acme --all [--automation ID] [--deal ID] [--since ISO] [--reason TEXT] [--limit N]
  dealflow runs cancel acme RUN_ID
  dealflow runs resume acme RUN_ID

A retry is a new run that continues the failed one (its entry has retry_of, the failed one's
retried_by): from the step that failed (default) or from the start, on the version the run started
with (default) or the current one. Nothing the failed run did is done again: effects are keyed by
run and place, and a retry uses the failed run's keys. --all retries the failed runs the filters
find that were not retried yet, newest first, at most --limit; run it again for the rest.
A waiting run resumed early is stopped and continued from its wait, which counts as over.

--stack: runs start on the deployed runner (output RunnerAliasArn) and go by themselves.
--endpoint: the local harness attaches to the moto server and runs them in-process until they finish
  or wait; a waiting run started by another process can be cancelled or resumed (its record is
  ended), but its in-process timer belonged to that process.
"""


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    runs = commands.add_parser(
        "runs",
        help="the failed-run inbox and waiting runs: list, retry, cancel, resume",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = runs.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list",
        parents=[where],
        help="runs newest first, filtered",
        description="A tenant's runs newest first, as GET /runs lists them: --status failed is the failed-run "
        "inbox, --status waiting the runs that wait. One bounded read of the run log per call.",
    )
    listing.add_argument("tenant_id")
    listing.add_argument("--status", choices=STATUSES, help="failed: the inbox; waiting: runs that wait")
    _filters(listing)
    listing.add_argument("--retried", choices=("yes", "no"), help="only runs another run retried (yes) or not (no)")
    listing.add_argument("--limit", type=int, default=50, help="runs at most (default 50)")
    listing.add_argument("--json", action="store_true", help="the runs as JSON, as GET /runs shows them")
    listing.set_defaults(run=lambda args, target: list_runs(_retried(args), target))

    retrying = actions.add_parser(
        "retry",
        parents=[where],
        help="retry a failed run, or --all the filters find",
        description="A new run continues the failed one, from the step that failed or from the start, on the "
        "version it started with or the current one; nothing the failed run did is done again.",
    )
    retrying.add_argument("tenant_id")
    retrying.add_argument("run_id", nargs="?", help="the failed run (or --all)")
    retrying.add_argument("--all", action="store_true", help="the failed runs the filters find, not yet retried")
    _filters(retrying)
    retrying.add_argument("--limit", type=int, default=25, help="--all: runs retried at most (default 25)")
    retrying.add_argument(
        "--from", dest="start", choices=("failed_step", "start"), default="failed_step", help="default failed_step"
    )
    retrying.add_argument("--version", choices=("original", "current"), default="original", help="default original")
    retrying.add_argument("--request-id", help="the same id again starts nothing new")
    retrying.set_defaults(run=_retry_checked)

    cancelling = actions.add_parser(
        "cancel",
        parents=[where],
        help="cancel a waiting run",
        description="Stop a waiting run: its execution is stopped and its entry says cancelled; nothing after "
        "its wait runs.",
    )
    cancelling.add_argument("tenant_id")
    cancelling.add_argument("run_id")
    cancelling.set_defaults(run=cancel_run)

    resuming = actions.add_parser(
        "resume",
        parents=[where],
        help="resume a waiting run now, as if its wait ended",
        description="A durable wait cannot be shortened: the waiting run is stopped and a new run continues "
        "from its wait, which counts as over; what the waiting run did is not done again.",
    )
    resuming.add_argument("tenant_id")
    resuming.add_argument("run_id")
    resuming.add_argument("--request-id", help="the same id again starts nothing new")
    resuming.set_defaults(run=resume_run)


def _retried(args: argparse.Namespace) -> argparse.Namespace:
    args.retried = None if args.retried is None else args.retried == "yes"
    return args


def _retry_checked(args: argparse.Namespace, target: Target) -> int:
    if bool(args.run_id) == bool(args.all):
        raise CliError("say which: a RUN_ID, or --all with filters")
    return retry_runs(args, target)
