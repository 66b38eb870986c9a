"""Wiring for the Lambda functions: AWS clients and services built once per container from their
settings (``dealflow.aws.settings``: the environment that template.yaml sets)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from dealflow.aws.metrics import EmfMetrics
from dealflow.aws.run_starter import LambdaRunStarter, starts_client_config
from dealflow.aws.settings import Settings
from dealflow.deferred import Deferred
from dealflow.engine.signals import CountedStarter

# Each function loads what it alone uses inside the function that builds it: the dispatcher
# neither the runner's durable SDK, nor the webhooks, nor the API; and not the models, the stores
# or Jinja2 at import either (they load with its first automation: ``Deferred``).
if TYPE_CHECKING:
    from dealflow.aws.secrets import ParameterStoreHttpSecrets, ParameterStorePageKeys, ParameterStoreSecrets
    from dealflow.engine.actions import Services
    from dealflow.engine.cancellation import Cancellations
    from dealflow.engine.changes import DealChange
    from dealflow.engine.compiled import TenantAutomation
    from dealflow.engine.dispatcher import Dispatcher, DispatcherLog
    from dealflow.engine.field_steps import StepMarker
    from dealflow.engine.timers import Clockwork
    from dealflow.engine.waiting import Resumer
    from dealflow.model import RunRecord
    from dealflow.model.run import ExecutionStatusChange
    from dealflow.ports import ChangeHistory, EnrollmentBook, Executions, Metrics, RunStarter
    from dealflow.store.automation import AutomationStore
    from dealflow.store.runs import RunLog
    from dealflow.webhooks import WebhookReceiver


@cache
def settings() -> Settings:
    """The function's configuration, read from the environment once per container."""
    return Settings.read()


def trace_aws_calls() -> None:
    """X-Ray subsegments for every AWS call of this container: powertools' Tracer with boto3
    patched (its cost to a cold start, measured with and without: README, "Tracing"). Only on
    Lambda and unless POWERTOOLS_TRACE_DISABLED; elsewhere (tests, the local harness) the tracing
    SDK is not even imported."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in {"1", "true", "yes", "on"}
    if "LAMBDA_TASK_ROOT" not in os.environ or disabled:
        return
    from aws_lambda_powertools import Tracer

    Tracer(patch_modules=("boto3",))


@cache
def metrics(function: str) -> Metrics:
    """The function's metrics (EMF), one per container; its handler flushes them once per
    invocation. Not forgotten by ``reset``: a handler module keeps the one it was built with."""
    return EmfMetrics(function)


@dataclass(frozen=True)
class Tables:
    deals: object
    automation: object


@cache
def tables() -> Tables:
    dynamodb, s = boto3.resource("dynamodb"), settings()
    return Tables(deals=dynamodb.Table(s.need("deals_table")), automation=dynamodb.Table(s.automation_table))


@cache
def batch_writes() -> Any:
    """A low-level DynamoDB client for the dispatcher's batched run-log writes: items converted to
    DynamoDB JSON by ``store.batches`` and no parameter validation, which through the resource
    layer cost the SDK about three times the CPU per entry."""
    return boto3.client("dynamodb", config=Config(parameter_validation=False))


@cache
def automation_table() -> Any:
    """The automation table alone, for the functions with no business with deals."""
    return boto3.resource("dynamodb").Table(settings().automation_table)


@cache
def timers() -> Any:
    """TimersTable (``store.timers``), or None where the function is given none."""
    from dealflow.store.timers import TimerTable

    name = settings().timers_table
    return TimerTable(boto3.resource("dynamodb").Table(name)) if name else None


@cache
def automation_store() -> AutomationStore:
    from dealflow.engine.compiled import TenantCompiler
    from dealflow.store.automation import AutomationStore

    armed = timers()
    return AutomationStore(tables().automation, TenantCompiler(), armed.request_arm if armed else None)


def runner_services(counted: Metrics | None = None) -> Services:
    """The runner's ports; with ``counted``, every effect they perform is counted there."""
    from dealflow.aws.adapters import EFFECT_CLIENT_CONFIG, SesMailer, SnsNotifier
    from dealflow.aws.outbound_http import GuardedHttp
    from dealflow.engine.actions import Services
    from dealflow.engine.signals import counted_services
    from dealflow.store.assignments import AssignmentTurns
    from dealflow.store.deals import DealStore
    from dealflow.store.enrollments import EnrollmentStore
    from dealflow.store.ledger import EffectLedger
    from dealflow.store.records import RecordStore
    from dealflow.store.run_dead_letter import SqsRunDeadLetter
    from dealflow.store.runs import RunLog
    from dealflow.store.waiters import WaiterRegistry

    t, s = tables(), settings()
    deals = DealStore(t.deals, t.automation)
    services = Services(
        automation=automation_store(),
        runs=RunLog(t.automation),
        deals=deals,
        ledger=EffectLedger(t.automation),
        records=RecordStore(t.automation),
        mailer=SesMailer(boto3.client("sesv2", config=EFFECT_CLIENT_CONFIG)),
        notifier=SnsNotifier(boto3.client("sns", config=EFFECT_CLIENT_CONFIG), s.need("notifications_topic_arn")),
        sender=s.sender_email,
        run_dead_letter=(
            SqsRunDeadLetter(boto3.client("sqs"), s.run_log_dead_letter_queue) if s.run_log_dead_letter_queue else None
        ),
        run_link_base=s.run_link_base,
        waiters=WaiterRegistry(t.automation),
        enrollments=EnrollmentStore(t.automation),
        http=GuardedHttp(allow_loopback=bool(s.http_allow_loopback)),
        # Its SSM client is built with the first http_request that needs a secret.
        http_secrets=Deferred(partial(http_secrets, s.webhook_secret_prefix)).proxy(),
        turns=AssignmentTurns(t.automation),
        workloads=deals,
    )
    return counted_services(services, counted) if counted is not None else services


def runner(counted: Metrics) -> Callable[[], Services]:
    """The runner's services as its handler holds them: the settings they need are checked now (a
    missing one fails the cold start), the services themselves (their AWS clients, the stores, and
    with them the models, Jinja2 and the engine) are built by the first run, once per container;
    under a lock, as the local harness starts several runs at once on threads."""
    s = settings()
    s.need("deals_table")
    s.need("notifications_topic_arn")
    lock = threading.Lock()
    built: list[Services] = []

    def services() -> Services:
        with lock:
            if not built:
                built.append(runner_services(counted=counted))
            return built[0]

    return services


def http_secrets(prefix: str) -> ParameterStoreHttpSecrets:
    """Tenants' HTTP secrets from SSM, cached per container (powertools parameters, 5 minutes)."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from dealflow.aws.secrets import SSM_CLIENT_CONFIG, ParameterStoreHttpSecrets

    return ParameterStoreHttpSecrets(SSMProvider(boto3_client=boto3.client("ssm", config=SSM_CLIENT_CONFIG)), prefix)


def _run_starter(runner_function: str, concurrency: int) -> LambdaRunStarter:
    client = boto3.client("lambda", config=starts_client_config(concurrency))
    return LambdaRunStarter(client, runner_function, concurrency=concurrency)


def dispatcher(starter: RunStarter | None = None, *, on: Tables | None = None) -> Dispatcher:
    """The dispatcher, counting the runs it starts and those it does not (``metrics("dispatcher")``).
    Its Lambda client is built with its first run start; its log, step marker and automation store
    (and with them the models and the DynamoDB resource and client) on the first record that needs
    them; each once per container. ``on``:
    other tables than the function's own, for ``dealflow redrive``, which dispatches with an
    operator's credentials and a starter of its own (it keeps every not-started entry)."""
    from dealflow.engine.dispatcher import Dispatcher

    counted, s = metrics("dispatcher"), settings()
    if starter is None:
        # The Lambda client (~60 ms of a cold start) comes with the first run the container starts:
        # a batch that starts none (most records start nothing) never pays for it.
        starter = Deferred(partial(_run_starter, s.need("runner_function"), s.run_start_concurrency)).proxy()
    starts = CountedStarter(starter, counted)
    sample_rate = s.not_started_sample_rate if on is None else 1.0
    if on is None:
        s.need("deals_table")  # a missing table name fails the cold start, not the first record

    # The DynamoDB resource and client (~60 ms each to build) come with the first record that
    # reads automation or writes the log, once per container, as the Deferred services below.
    def tables_() -> Tables:
        return on or tables()

    def run_log() -> RunLog:
        from dealflow.store.runs import RunLog

        t = tables_()
        return RunLog(t.automation, batch_writes() if on is None else cast(Any, t.automation).meta.client)

    runs = Deferred(run_log)

    def dispatch_log() -> DispatcherLog:
        from dealflow.engine.dispatch_log import DispatchLog
        from dealflow.engine.signals import CountedDispatchLog

        return CountedDispatchLog(DispatchLog(runs(), sample_rate), counted)

    def step_marker() -> StepMarker:
        from dealflow.engine.field_steps import StepMarker
        from dealflow.store.deals import DealStore

        t = tables_()
        return StepMarker(DealStore(t.deals, t.automation))

    def automation(tenant_id: str) -> TenantAutomation:
        if on is None:
            return automation_store().load(tenant_id)
        from dealflow.engine.compiled import TenantCompiler
        from dealflow.store.automation import AutomationStore

        return AutomationStore(on.automation, TenantCompiler()).load(tenant_id)

    cancelling = cache(lambda: cancellations(starts))  # built on the first deleted deal, not at a cold start

    def resumer() -> Resumer:
        from dealflow.engine.waiting import Resumer
        from dealflow.store.waiters import WaiterRegistry

        return Resumer(WaiterRegistry(tables_().automation), cast(Any, starts))

    resuming = Deferred(resumer)  # built with the first record of a tenant whose runs wait for events

    def resume_waiting(change: DealChange, automation: TenantAutomation) -> None:
        resuming().on_deal_change(change, automation)

    def deal_deleted(tenant_id: str, deal_id: str) -> None:
        if on is not None:
            # A redriven deletion: its waiting runs end by their own check when they wake (the deal
            # is gone), so nothing is sent; the operator's command queues no job of the stack's.
            return
        cancelling().request(tenant_id, "the deal was deleted", "dealflow", deal_id=deal_id, record_empty=False)

    def enrollment_book() -> EnrollmentBook:
        from dealflow.store.enrollments import EnrollmentStore

        return EnrollmentStore(tables_().automation)

    def date_arming() -> Any:
        from dealflow.engine.timers import DateArming

        return DateArming(timers())

    def history() -> ChangeHistory:
        from dealflow.store.change_history import ChangeHistoryStore

        t = tables_()
        return ChangeHistoryStore(t.automation, batch_writes() if on is None else cast(Any, t.automation).meta.client)

    return Dispatcher(
        automation,
        starts,
        Deferred(dispatch_log).proxy(),
        on_deleted=deal_deleted,
        on_change=Deferred(step_marker).proxy(),
        on_waiting=resume_waiting,
        enrollments=Deferred(enrollment_book).proxy(),
        # Built with the first change of a tenant with date triggers (none: never).
        on_dates=Deferred(date_arming).proxy() if on is None and s.timers_table else None,
        # A redrive replays old records: they are no recent changes.
        history=Deferred(history).proxy() if on is None else None,
    )


def run_reconciler(executions: Executions | None = None) -> Callable[[ExecutionStatusChange], RunRecord | None]:
    """What the run reconciler needs: the runner's executions (an ended run's request) and the run log."""
    from dealflow.aws.executions import LambdaExecutions
    from dealflow.engine.run_failures import reconcile
    from dealflow.store.runs import RunLog

    executions = executions or LambdaExecutions(boto3.client("lambda"))
    # The automation table only: the reconciler has no business with deals.
    return partial(reconcile, executions=executions, runs=RunLog(automation_table()))


def cancellations(starter: RunStarter | None = None) -> Cancellations:
    """Cancellation jobs (``engine.cancellation``): requested by the API and the dispatcher with
    their run starter, worked on by the run reconciler's (the runner's alias by default)."""
    from dealflow.aws.queues import SqsCancellationQueue
    from dealflow.engine.cancellation import Cancellations
    from dealflow.store.cancellations import CancellationJobs
    from dealflow.store.runs import RunLog

    s, table = settings(), automation_table()
    from dealflow.store.waiters import WaiterRegistry

    starter = starter or LambdaRunStarter(boto3.client("lambda"), s.need("runner_function"))
    return Cancellations(
        CancellationJobs(table),
        RunLog(table),
        starter,
        SqsCancellationQueue(boto3.client("sqs"), s.need("cancellation_queue_url")),
        waiters=WaiterRegistry(table),
        inline_stops=s.cancel_inline_stops,
        stops_per_invocation=s.cancel_stops_per_invocation,
    )


def clockwork(starter: RunStarter | None = None) -> Clockwork:
    """The scheduler's tick and timer-queue worker (``engine.timers``): timers, the timer queue,
    automation, items (deals and leads), the runner, enrollment records and the run log (runs an
    enrollment rule keeps out)."""
    from dealflow.aws.queues import SqsTimerQueue
    from dealflow.engine.timers import Clockwork
    from dealflow.store.deals import DealStore
    from dealflow.store.enrollments import EnrollmentStore
    from dealflow.store.runs import RunLog

    s = settings()
    s.need("timers_table")
    starter = starter or LambdaRunStarter(boto3.client("lambda"), s.need("runner_function"))
    return Clockwork(
        timers=timers(),
        queue=SqsTimerQueue(boto3.client("sqs"), s.need("timer_queue_url")),
        load=automation_store().load,
        items=DealStore(tables().deals),
        starter=CountedStarter(starter, metrics("scheduler")),
        metrics=metrics("scheduler"),
        enrollments=EnrollmentStore(tables().automation),
        runs=RunLog(tables().automation, batch_writes()),
    )


@cache
def webhook_secrets() -> ParameterStoreSecrets:
    """Tenants' webhook secrets from SSM, cached per container (powertools parameters, 5 minutes)."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from dealflow.aws.secrets import SSM_CLIENT_CONFIG, ParameterStoreSecrets

    client = boto3.client("ssm", config=SSM_CLIENT_CONFIG)
    return ParameterStoreSecrets(SSMProvider(boto3_client=client), settings().webhook_secret_prefix)


@cache
def page_keys() -> ParameterStorePageKeys:
    """The key the API seals page tokens with, from SSM, cached per container (5 minutes)."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from dealflow.aws.secrets import ParameterStorePageKeys

    return ParameterStorePageKeys(SSMProvider(boto3_client=boto3.client("ssm")), settings().page_token_key_parameter)


def webhook_receiver(starter: RunStarter | None = None) -> WebhookReceiver:
    """What the webhooks handler needs: secrets, automation, deals, the replay guard, a run starter."""
    from dealflow.engine.waiting import Resumer
    from dealflow.store.deals import DealStore
    from dealflow.store.enrollments import EnrollmentStore
    from dealflow.store.waiters import WaiterRegistry
    from dealflow.store.webhook_events import WebhookEventLog
    from dealflow.webhooks import WebhookReceiver

    starter = CountedStarter(
        starter or LambdaRunStarter(boto3.client("lambda"), settings().need("runner_function")), metrics("webhooks")
    )
    t = tables()
    return WebhookReceiver(
        secrets=webhook_secrets(),
        load_automation=automation_store().load,
        get_deal=DealStore(t.deals).get,
        events=WebhookEventLog(t.automation),
        starter=starter,
        resumer=Resumer(WaiterRegistry(t.automation), cast(Any, starter)),
        enrollments=EnrollmentStore(t.automation),
    )


def reset() -> None:
    """Forget the settings and clients built so far (the local harness switches between moto
    instances, and sets the environment for each)."""
    settings.cache_clear()
    tables.cache_clear()
    automation_table.cache_clear()
    automation_store.cache_clear()
    timers.cache_clear()
    batch_writes.cache_clear()
    webhook_secrets.cache_clear()
    page_keys.cache_clear()
