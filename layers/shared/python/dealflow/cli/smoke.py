"""``dealflow smoke``: prove a deployment end to end with a throwaway tenant — a pipeline, a rule on
its "won" stage that e-mails SES's mailbox simulator and notifies a user, a deal moved into that
stage, the run completed with both effects sent — then remove every trace of it."""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable
from typing import Any

from dealflow.cli.smoke_drivers import UNFINISHED, DeployedStack, Driver, LocalHarness
from dealflow.cli.target import Target
from dealflow.model import Deal, Pipeline, Rule, RunRecord, Tenant

# SES's mailbox simulator accepts mail even from a sandboxed account and delivers it nowhere.
SIMULATOR = "success@simulator.amazonses.com"
USER_ID = "smoke-user"
RULE_ID = "smoke-won"
DEAL_ID = "smoke-deal"


def scenario(tenant_id: str) -> tuple[Tenant, Pipeline, Rule, Deal]:
    tenant = Tenant.model_validate(
        {
            "id": tenant_id,
            "name": "Dealflow smoke test",
            "users": [{"id": USER_ID, "name": "Smoke Test", "email": SIMULATOR, "role": "admin"}],
        }
    )
    pipeline = Pipeline.model_validate(
        {
            "id": "smoke",
            "name": "Smoke",
            "stages": [{"id": "new", "name": "New"}, {"id": "won", "name": "Won", "semantic": "won"}],
        }
    )
    rule = Rule.model_validate(
        {
            "id": RULE_ID,
            "name": "Smoke: won deals e-mail and notify",
            "pipeline_id": "smoke",
            "stage_id": "won",
            "actions": [
                {
                    "kind": "send_email",
                    "to": {"users": [USER_ID]},
                    "subject": "Dealflow smoke test {{ tenant.id }}: {{ deal.title }} won",
                    "body": "{{ deal.title }} reached {{ deal.stage }} ({{ deal.amount }} {{ deal.currency }}).",
                },
                {
                    "kind": "notify",
                    "to": {"users": [USER_ID]},
                    "message": "Smoke {{ tenant.id }}: {{ deal.title }} won",
                },
            ],
        }
    )
    deal = Deal.model_validate(
        {
            "tenant_id": tenant_id,
            "id": DEAL_ID,
            "pipeline_id": "smoke",
            "stage_id": "new",
            "title": "Smoke deal",
            "amount": "1.00",
            "currency": "EUR",
            "responsible_id": USER_ID,
        }
    )
    return tenant, pipeline, rule, deal


def _action(run: RunRecord, kind: str) -> tuple[bool, str]:
    step = next((s for s in run.steps if s.kind == "action" and s.name.endswith(kind)), None)
    if step is None:
        return False, "no such step in the run log"
    # An e-mail goes out as one message per recipient (message_ids by address); a notification is one.
    ids = list(step.detail.get("message_ids", {}).values()) or [step.detail.get("message_id")]
    if step.outcome != "done" or not all(ids):
        return False, f"{step.outcome}: {step.detail}"
    to = step.detail.get("to") or step.detail.get("users")
    return True, f"to {to}, message id {', '.join(ids)}"


def _run_failure(run: RunRecord | None, target: Target, waited: float) -> str:
    if run is None:
        return f"no run within {waited:.0f} s: did the dispatcher see the change? " + (
            f"sam logs -n DispatcherFunction --stack-name {target.stack}" if target.stack else ""
        )
    if run.status in UNFINISHED:
        return f"still {run.status} after {waited:.0f} s ({run.run_id})"
    hint = ""
    if "not verified" in (run.reason or "") or "not verified" in str([s.detail for s in run.steps]):
        hint = f" — confirm the SES identity {target.sender or 'SenderEmail'} (SES mailed a link on first deploy)"
    return f"{run.status}: {run.reason}{hint} ({run.run_id})"


class Smoke:
    """The checks in order; the first failure stops the rest, the clean-up always runs."""

    def __init__(self, target: Target, driver: Driver, keep: bool) -> None:
        self.target, self.driver, self.keep = target, driver, keep
        self.tenant_id = f"smoke-{secrets.token_hex(4)}"
        self.results: list[bool] = []

    def report(self, name: str, passed: bool, detail: str) -> bool:
        print(f"  {'ok  ' if passed else 'FAIL'}  {name}: {detail}", flush=True)
        self.results.append(passed)
        return passed

    def step(self, name: str, action: Callable[[], str]) -> bool:
        try:
            return self.report(name, True, action())
        except Exception as exc:
            return self.report(name, False, f"{type(exc).__name__}: {exc}")

    def run(self) -> bool:
        target, tenant_id = self.target, self.tenant_id
        tenant, pipeline, rule, deal = scenario(tenant_id)

        def set_up() -> str:
            target.tenants.create(tenant)
            target.automation.put_definition(tenant_id, pipeline)
            target.automation.put_definition(tenant_id, rule)
            return f"tenant {tenant_id}, user {USER_ID} <{SIMULATOR}>, pipeline smoke (new → won), rule {RULE_ID}"

        def move() -> str:
            created = target.deals.create(deal)
            target.deals.save(created.model_copy(update={"stage_id": "won"}))
            return f"{DEAL_ID} created in 'new', moved to 'won'"

        try:
            if self.step("tenant, pipeline and rule stored", set_up) and self.step("deal moved", move):
                self.check_run()
        finally:
            if self.keep:
                print(f"  kept tenant {tenant_id} (--keep): dealflow tenant show {tenant_id}")
            else:
                self.step("cleaned up", self.clean_up)
        return all(self.results)

    def check_run(self) -> None:
        started = time.monotonic()
        run = self.driver.run_of(self.tenant_id, DEAL_ID, RULE_ID)
        waited = time.monotonic() - started
        if run is None or run.status != "completed":
            self.report("run completed", False, _run_failure(run, self.target, waited))
            return
        self.report("run completed", True, f"{run.run_id}, {len(run.steps)} steps, seen after {waited:.1f} s")
        self.report(f"e-mail sent to {SIMULATOR} (SES)", *_action(run, "send_email"))
        self.report("notification published (SNS)", *_action(run, "notify"))
        for name, passed, detail in self.driver.delivered(self.tenant_id, run):
            self.report(name, passed, detail)

    def clean_up(self) -> str:
        self.target.deals.delete(self.tenant_id, DEAL_ID)
        # Locally the harness must pump the deletion now (the tenant's run log goes next); on AWS the
        # dispatcher needs nothing of the tenant to see a deal deleted.
        self.driver.settle()
        removed = self.target.tenants.purge(self.tenant_id)
        return f"deal deleted, then tenant {self.tenant_id} ({removed} items: settings, definitions, run log, ledger)"


def smoke(args: argparse.Namespace, target: Target) -> int:
    driver: Driver = LocalHarness(target, args.region) if target.endpoint else DeployedStack(target, args.timeout)
    how = "local harness: stream pump and in-process runner" if target.endpoint else "the deployed functions"
    print(f"dealflow smoke on {target.where} ({how})", flush=True)
    with driver:
        check = Smoke(target, driver, args.keep)
        passed = check.run()
    print(f"smoke test {'passed' if passed else 'FAILED'}: {sum(check.results)} of {len(check.results)} checks")
    return 0 if passed else 1


HELP = f"""\
Prove a deployment end to end with a throwaway tenant (smoke-<random>), then remove every trace of it.

Checks, in order (the first failure stops the rest; the clean-up always runs):
  1. the tenant (one admin user whose e-mail is {SIMULATOR}), a pipeline
     smoke (new → won) and a rule on 'won' that e-mails and notifies that user are stored;
  2. a deal is created in 'new' and moved to 'won';
  3. the rule's run is in the run log, completed;
  4. its e-mail step carries an SES message id: sent to SES's mailbox simulator, which every
     account may send to, even in the SES sandbox;
  5. its notify step carries an SNS message id: published on the NotificationsTopic;
  6. (--endpoint only) the e-mail is in moto's SES outbox and the notification on the topic;
  7. the deal is deleted, then every item of the tenant in both tables.
Exit status 0 when every check passed, 1 otherwise.

--stack: the deployed functions do the work (DealsTable stream → dispatcher → runner → SES, SNS)
  while this command polls the run log for up to --timeout seconds. The stack's SenderEmail must be a
  verified SES identity (SES mailed a confirmation link on the first deploy).

--endpoint: nothing runs Lambdas on a moto server, so this command attaches the local harness
  (dealflow.local.MotoStack) to it: the harness pumps the DealsTable stream into the dispatcher handler
  that is deployed and runs the runner in-process through the durable execution testing SDK. Only
  changes made while it runs are pumped (as the deployed stream mapping starts at LATEST).
"""


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "smoke",
        parents=[where],
        help="prove a deployment end to end with a throwaway tenant",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--timeout", type=float, default=180.0, help="--stack: seconds to wait for the run to finish (default 180)"
    )
    p.add_argument("--keep", action="store_true", help="leave the throwaway tenant in place to inspect it")
    p.set_defaults(run=smoke)
