"""Wiring for the Lambda functions: AWS clients and services built once per container from the
environment that template.yaml sets."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING

import boto3

from dealflow.aws.run_starter import LambdaRunStarter
from dealflow.engine.compiled import TenantCompiler
from dealflow.engine.dispatch import Dispatcher
from dealflow.engine.dispatch_log import DispatchLog, cancel_waiting
from dealflow.engine.field_steps import StepMarker
from dealflow.ports import Executions, RunStarter
from dealflow.store.automation import AutomationStore
from dealflow.store.deals import DealStore
from dealflow.store.runs import RunLog

# Each function loads what it alone uses inside the function that builds it: the dispatcher
# neither the runner's durable SDK, nor the webhooks, nor the API.
if TYPE_CHECKING:
    from dealflow.api.deps import Deps
    from dealflow.aws.secrets import ParameterStoreSecrets
    from dealflow.engine.actions import Services
    from dealflow.model import RunRecord
    from dealflow.model.run import ExecutionStatusChange
    from dealflow.webhooks import WebhookReceiver


@dataclass(frozen=True)
class Tables:
    deals: object
    automation: object


@cache
def tables() -> Tables:
    dynamodb = boto3.resource("dynamodb")
    return Tables(
        deals=dynamodb.Table(os.environ["DEALS_TABLE"]), automation=dynamodb.Table(os.environ["AUTOMATION_TABLE"])
    )


@cache
def automation_store() -> AutomationStore:
    return AutomationStore(tables().automation, TenantCompiler())


def runner_services() -> Services:
    from dealflow.aws.adapters import SesMailer, SnsNotifier
    from dealflow.engine.actions import Services
    from dealflow.store.ledger import EffectLedger
    from dealflow.store.records import RecordStore

    t = tables()
    return Services(
        automation=automation_store(),
        runs=RunLog(t.automation),
        deals=DealStore(t.deals, t.automation),
        ledger=EffectLedger(t.automation),
        records=RecordStore(t.automation),
        mailer=SesMailer(boto3.client("sesv2")),
        notifier=SnsNotifier(boto3.client("sns"), os.environ["NOTIFICATIONS_TOPIC_ARN"]),
        sender=os.environ.get("SENDER_EMAIL") or None,
    )


def dispatcher(starter: RunStarter | None = None) -> Dispatcher:
    starter = starter or LambdaRunStarter(boto3.client("lambda"), os.environ["RUNNER_FUNCTION"])
    runs = RunLog(tables().automation)
    sample = float(os.environ.get("NOT_STARTED_SAMPLE_RATE", "1.0"))

    def deal_deleted(tenant_id: str, deal_id: str) -> None:
        cancel_waiting(runs, starter, tenant_id, "the deal was deleted", deal_id=deal_id)

    return Dispatcher(
        automation_store().load,
        starter,
        DispatchLog(runs, sample),
        on_deleted=deal_deleted,
        on_change=StepMarker(DealStore(tables().deals, tables().automation)),
    )


def run_reconciler(executions: Executions | None = None) -> Callable[[ExecutionStatusChange], RunRecord | None]:
    """What the run reconciler needs: the runner's executions (an ended run's request) and the run log."""
    from dealflow.aws.executions import LambdaExecutions
    from dealflow.engine.run_failures import reconcile

    executions = executions or LambdaExecutions(boto3.client("lambda"))
    # The automation table only: the reconciler has no business with deals.
    automation = boto3.resource("dynamodb").Table(os.environ["AUTOMATION_TABLE"])
    return partial(reconcile, executions=executions, runs=RunLog(automation))


@cache
def webhook_secrets() -> ParameterStoreSecrets:
    """Tenants' webhook secrets from SSM, cached per container (powertools parameters, 5 minutes)."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from dealflow.aws.secrets import DEFAULT_SECRET_PREFIX, ParameterStoreSecrets

    return ParameterStoreSecrets(
        SSMProvider(boto3_client=boto3.client("ssm")), os.environ.get("WEBHOOK_SECRET_PREFIX") or DEFAULT_SECRET_PREFIX
    )


def webhook_receiver(starter: RunStarter | None = None) -> WebhookReceiver:
    """What the webhooks handler needs: secrets, automation, deals, the replay guard, a run starter."""
    from dealflow.store.webhook_events import WebhookEventLog
    from dealflow.webhooks import WebhookReceiver

    starter = starter or LambdaRunStarter(boto3.client("lambda"), os.environ["RUNNER_FUNCTION"])
    t = tables()
    return WebhookReceiver(
        secrets=webhook_secrets(),
        load_automation=automation_store().load,
        get_deal=DealStore(t.deals).get,
        events=WebhookEventLog(t.automation),
        starter=starter,
    )


def reset() -> None:
    """Forget the clients built so far (the local harness switches between moto instances)."""
    tables.cache_clear()
    automation_store.cache_clear()
    webhook_secrets.cache_clear()


def api_deps() -> Deps:
    """What the management API's routes need: stores, the runner's services, a run starter."""
    from dealflow.api.deps import Deps  # only the API function loads the API

    t = tables()
    runner = os.environ.get("RUNNER_FUNCTION")
    return Deps(
        automation=automation_store(),
        deals=DealStore(t.deals),
        runs=RunLog(t.automation),
        starter=LambdaRunStarter(boto3.client("lambda"), runner) if runner else None,
        services=runner_services,
    )
