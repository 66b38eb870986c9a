"""Wiring for the Lambda functions: AWS clients and services built once per container from the
environment that template.yaml sets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import boto3

from dealflow.actions import Services
from dealflow.adapters import LambdaRunStarter, SesMailer, SnsNotifier
from dealflow.changes import DealChange
from dealflow.clock import now_iso
from dealflow.dispatch import CompiledAutomation, Dispatcher, LoopLogger, RunStarter, run_id_for
from dealflow.model import RunRecord
from dealflow.store.automation import AutomationStore
from dealflow.store.deals import DealStore
from dealflow.store.ledger import EffectLedger
from dealflow.store.records import RecordStore
from dealflow.store.runs import RunLog


@dataclass(frozen=True)
class Tables:
    deals: object
    automation: object


@cache
def tables() -> Tables:
    dynamodb = boto3.resource("dynamodb")
    return Tables(deals=dynamodb.Table(os.environ["DEALS_TABLE"]),
                  automation=dynamodb.Table(os.environ["AUTOMATION_TABLE"]))


@cache
def automation_store() -> AutomationStore:
    return AutomationStore(tables().automation)


def runner_services() -> Services:
    t = tables()
    return Services(
        automation=automation_store(), runs=RunLog(t.automation), deals=DealStore(t.deals, t.automation),
        ledger=EffectLedger(t.automation), records=RecordStore(t.automation),
        mailer=SesMailer(boto3.client("sesv2")),
        notifier=SnsNotifier(boto3.client("sns"), os.environ["NOTIFICATIONS_TOPIC_ARN"]),
        sender=os.environ.get("SENDER_EMAIL") or None)


def loop_logger(runs: RunLog) -> LoopLogger:
    """Records, for each automation a too-deep chain would have started, that the loop was stopped
    and which automation made up the chain."""

    def log(change: DealChange, event_id: str, stopped: Sequence[CompiledAutomation]) -> None:
        cause = change.new.caused_by if change.new else None
        chain = list(cause.chain) if cause else []
        for compiled in stopped:
            automation = compiled.automation
            runs.write(RunRecord(
                tenant_id=change.tenant_id, run_id=run_id_for(event_id, automation.id),
                automation_id=automation.id, automation_name=automation.name, automation_kind=automation.kind,
                deal_id=change.deal_id, event_id=event_id,
                started_by={"stage_entry": change.stage_entry.model_dump(mode="json") if change.stage_entry else None,
                            "caused_by": cause.model_dump(mode="json") if cause else None},
                status="skipped", started_at=now_iso(), finished_at=now_iso(),
                reason=f"automation loop stopped: {len(chain)} automation writes in a row "
                       f"({' → '.join([*chain, automation.id])})"))

    return log


def dispatcher(starter: RunStarter | None = None) -> Dispatcher:
    starter = starter or LambdaRunStarter(boto3.client("lambda"), os.environ["RUNNER_FUNCTION"])
    return Dispatcher(automation_store().load, starter, loop_logger(RunLog(tables().automation)))


def reset() -> None:
    """Forget the clients built so far (the local harness switches between moto instances)."""
    tables.cache_clear()
    automation_store.cache_clear()
