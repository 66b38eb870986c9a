"""The ``dealflow`` command line: parse, find the stack, run one command, turn refusals into a message
and an exit status (0 done, 1 refused or failed, 2 the command line itself was wrong)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from dealflow.cli import (
    automation_map,
    code,
    http_secret,
    migrate,
    redrive,
    run_log,
    runs,
    smoke,
    tenants,
    users,
    versions,
    webhook_secret,
)
from dealflow.cli.errors import CliError
from dealflow.cli.target import Target, from_endpoint, from_stack
from dealflow.store.tenant_settings import UnknownTenant
from dealflow.store.tenants import TenantChanged

DESCRIPTION = """\
Operate a Dealflow stack: tenants, their users and plans, webhook and HTTP secrets, a smoke test of the
whole flow, runs (the failed-run inbox, retries, waiting runs), run records kept aside when the
run log would not take them, and redriving the deal changes the dispatcher gave up on. For the
people who run the stack, with AWS credentials (the standard chain: environment, --profile, SSO,
instance role); nothing of these is reachable with a tenant's API token.

And for a tenant's administrators, with the tenant's API and a token instead of AWS credentials
(--api URL --token JWT): automation as code (export, validate, diff, plan, apply, test over a
directory of YAML files), the automation map (map) and the saved versions of automation,
pipelines, fields and constants, with rollback (versions).

The operators' commands act on one of:
  --stack NAME [--region R] [--profile P]   a deployed stack; tables, topic and secret prefix come
                                            from its CloudFormation outputs (DEALFLOW_STACK sets
                                            the default name)
  --endpoint http://127.0.0.1:PORT          a moto server provisioned by the local harness
                                            (dealflow.local), with local fake credentials
"""

EPILOG = """\
onboarding a tenant after `sam deploy`:
  dealflow tenant create acme --name "Acme Ltd" --plan team --stack dealflow
  dealflow user add acme u-ada --name "Ada Lovelace" --email ada@acme.example --role admin --stack dealflow
  dealflow webhook-secret rotate acme --stack dealflow
  dealflow http-secret signing acme --stack dealflow
  dealflow smoke --stack dealflow

after DispatcherFailureQueueAlarm, once the cause is fixed:
  dealflow redrive --dry-run --stack dealflow && dealflow redrive --stack dealflow

automation as code, as a tenant's administrator (DEALFLOW_API_URL and DEALFLOW_TOKEN set):
  dealflow export acme-automation/ && git -C acme-automation diff
  dealflow plan acme-automation/ && dealflow apply acme-automation/ -m "Follow up proposals after 3 days"
  dealflow map -o acme-map.svg
  dealflow versions diff automation proposal-follow-up && dealflow versions rollback automation proposal-follow-up 3

`dealflow COMMAND --help` and `dealflow COMMAND ACTION --help` describe each one."""

AWS_PERMISSIONS = (
    "cloudformation:DescribeStacks on the stack; dynamodb:GetItem, PutItem, UpdateItem, Query, Scan, "
    "BatchWriteItem, DeleteItem on its two tables; ssm:GetParameter, PutParameter under the secret prefix; "
    "for `runs retry | cancel | resume`, lambda:InvokeFunction on the runner's alias and "
    "lambda:StopDurableExecution on its executions; "
    "sqs:ReceiveMessage, DeleteMessage on its RunLogDeadLetterQueue; "
    "for redrive also sqs:ReceiveMessage, DeleteMessage, ChangeMessageVisibility on DispatcherFailureQueue, "
    "dynamodb:GetShardIterator, GetRecords on the deals stream, lambda:InvokeFunction on the runner's alias"
)


def where_options() -> argparse.ArgumentParser:
    """The options every command takes to say which stack it acts on."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("where (--stack or --endpoint)")
    group.add_argument("--stack", help="name of the deployed CloudFormation stack (default: $DEALFLOW_STACK)")
    group.add_argument(
        "--endpoint", help="URL of a local moto server the harness provisioned, e.g. http://127.0.0.1:5000"
    )
    group.add_argument("--region", help="AWS region of the stack (default: AWS_REGION or the profile's region)")
    group.add_argument("--profile", help="AWS named profile to use (default: AWS_PROFILE or the default chain)")
    return parent


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="dealflow",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    where = where_options()
    tenants.add_commands(commands, where)
    users.add_commands(commands, where)
    webhook_secret.add_commands(commands, where)
    http_secret.add_commands(commands, where)
    smoke.add_commands(commands, where)
    migrate.add_commands(commands, where)
    runs.add_commands(commands, where)
    run_log.add_commands(commands, where)
    redrive.add_commands(commands, where)
    code.add_commands(commands, where)
    automation_map.add_commands(commands, where)
    versions.add_commands(commands, where)
    return root


def target_of(args: argparse.Namespace) -> Target:
    if args.endpoint and args.stack:
        raise CliError("--stack and --endpoint say different places: give one")
    if args.endpoint:
        return from_endpoint(args.endpoint, args.region)
    stack = args.stack or os.environ.get("DEALFLOW_STACK")
    if stack:
        return from_stack(stack, args.region, args.profile)
    raise CliError("say where: --stack NAME (a deployed stack) or --endpoint URL (a local moto server)")


def _aws_refusal(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Error"), error.get("Message", str(exc))
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
        return f"AWS refused ({code}): {message}. The command needs {AWS_PERMISSIONS}"
    return f"AWS refused ({code}): {message}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # Most commands act on a stack with AWS credentials; automation as code and the map on a
        # tenant's API with its token (each names its own ``where``).
        where = getattr(args, "where", target_of)
        return int(args.run(args, where(args)))
    except CliError as exc:
        message = str(exc)
    except UnknownTenant as exc:
        message = f"{exc} (dealflow tenant list shows the tenants there are)"
    except TenantChanged as exc:
        message = f"{exc}: nothing written, run the command again"
    except ClientError as exc:
        message = _aws_refusal(exc)
    except BotoCoreError as exc:  # no credentials, no network
        message = f"AWS unreachable: {exc}"
    print(f"dealflow: error: {message}", file=sys.stderr)
    return 1


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
