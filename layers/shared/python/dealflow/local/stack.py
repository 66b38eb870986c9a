"""The whole Dealflow flow on one machine: a public harness for your own tests and the demo.

    with MotoStack() as stack:
        stack.put_tenant(tenant); stack.put_pipeline("acme", pipeline); stack.put_rule("acme", rule)
        stack.create_deal(deal)
        stack.move_deal("acme", deal.id, "won")
        stack.drain()                      # stream → dispatcher → runs, until nothing moves
        stack.advance(days=2)              # past a rule's delay
        assert stack.emails()[0].subject == "..."

moto stands in for AWS (in-process, or a moto server when ``endpoint`` is given or ``server`` is
True); the dispatcher and runner are the very handler modules deployed to Lambda. With ``attach``,
the moto server at ``endpoint`` was provisioned by another harness: its resources are reused, and
only deal changes made from now on are pumped (as the deployed stream mapping starts at LATEST).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, Self

import boto3

from dealflow import clock, runtime
from dealflow.engine.compiled import TenantCompiler
from dealflow.local import aws_limits, faults, replay
from dealflow.local.automation_tools import AutomationTools
from dealflow.local.clock import ManualClock
from dealflow.local.crm_tools import CrmTools
from dealflow.local.http_tools import HttpTools
from dealflow.local.iam import IamContract, IamContractBroken, RunStarterCalls
from dealflow.local.iam_names import LocalAws
from dealflow.local.iam_report import SESSION as IAM_USAGE
from dealflow.local.invoke import LocalRunStarter
from dealflow.local.moto_lock import serialise_moto_requests
from dealflow.local.outbox import Email, Notification, Outbox
from dealflow.local.provision import TEMPLATE, Resources, attach, ensure_page_key, provision
from dealflow.local.pump import StreamPump
from dealflow.local.queue_pump import QueuePump
from dealflow.local.sessions import new_session
from dealflow.local.stream_history import StreamHistory, on_failure_record
from dealflow.store.automation import AutomationStore
from dealflow.store.deals import DealStore
from dealflow.store.records import RecordStore
from dealflow.store.runs import RunLog

REPO = TEMPLATE.parent
MAX_RETRIES = 3  # as the stream mapping's MaximumRetryAttempts in template.yaml
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class DrainReport:
    records: int = 0
    runs_started: int = 0
    failed_records: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)


def _load_handler(name: str, contract: IamContract) -> ModuleType:
    """functions/<name>/app.py, its handler running as its function under the IAM contract."""
    path = REPO / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"dealflow_local_{name}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    function = contract.function_for(f"functions/{name}")
    with contract.running(function):  # what a cold start calls is the function's too
        spec.loader.exec_module(module)
    _swap_in(module, handler=contract.handler(function, getattr(module, "handler")))  # noqa: B009
    return module


def _swap_in(module: ModuleType, **built: object) -> None:
    """Replace what a handler module built at import (its cold start) with what the harness built,
    such as a dispatcher with the in-process run starter."""
    for name, value in built.items():
        setattr(module, name, value)


class MotoStack(CrmTools, AutomationTools, HttpTools):
    def __init__(
        self,
        *,
        endpoint: str | None = None,
        server: bool = False,
        region: str = "eu-west-1",
        sender: str = "automation@dealflow.example",
        quiet: bool = True,
        attach: bool = False,
        start: datetime | None = None,
    ) -> None:
        if attach and endpoint is None:
            raise ValueError("attach needs the endpoint of a provisioned moto server")
        self.endpoint, self.region, self.sender, self.quiet = endpoint, region, sender, quiet
        self._server_wanted = server
        self._attach = attach
        self._mock: Any = None
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_default_session: list[Any] = []  # boto3's default session before ours, once installed
        self.clock = ManualClock(start)  # ``start``: the clock stands there, moved only by ``advance``
        self.resources = Resources()
        self.batch_responses: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []  # every stream record handed to the dispatcher

    # ---- life cycle -------------------------------------------------------------------------

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def start(self) -> Self:
        if self.quiet:
            # The durable SDK logs every failed step with a traceback; the run log says it better.
            for name in ("aws_durable_execution_sdk_python", "aws_durable_execution_sdk_python_testing"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        self._set_env({**_FAKE_ENV, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region})
        serialise_moto_requests(server=self.endpoint is None and self._server_wanted)
        if self.endpoint is None and self._server_wanted:
            from moto.server import ThreadedMotoServer

            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
        if self.endpoint:
            self._set_env({"AWS_ENDPOINT_URL": self.endpoint})
        else:
            from moto import mock_aws

            self._mock = mock_aws()
            self._mock.start()
        session = new_session()
        aws_limits.install(session)  # what AWS refuses and moto would take is refused here too
        # The handlers build their clients from boto3's default session: make it this one, so
        # they share its parsed service models too.
        self._saved_default_session.append(boto3.DEFAULT_SESSION)
        boto3.DEFAULT_SESSION = session
        self.resources = attach(session, self.sender) if self._attach else provision(session, self.sender)
        # Every call a handler makes from here on is judged against its role in template.yaml.
        IamContract.install(session)
        faults.install(session)  # after the contract: a call a fault answers is still judged
        local_aws = LocalAws(
            region=self.region,
            parameters={"SenderEmail": self.sender},
            tables=self.resources.tables,
            streams=self.resources.streams,
            topics=self.resources.topics,
            queues=self.resources.queues,
        )
        self.iam = IamContract.from_template(TEMPLATE, local_aws, lookups=session)
        self._set_env(
            {
                "DEALS_TABLE": self.resources.tables["DealsTable"],
                "AUTOMATION_TABLE": self.resources.tables["AutomationTable"],
                "NOTIFICATIONS_TOPIC_ARN": self.resources.topics["NotificationsTopic"],
                "RUN_LOG_DEAD_LETTER_QUEUE": self.resources.queues["RunLogDeadLetterQueue"],
                "SENDER_EMAIL": self.sender,
                # http_request actions reach the tests' and the demo's servers on 127.0.0.1.
                "HTTP_ALLOW_LOOPBACK": "1",
                "RUNNER_FUNCTION": "RunnerFunction",
                "CANCELLATION_QUEUE_URL": self.resources.queues["CancellationQueue"],
                "TIMERS_TABLE": self.resources.tables["TimersTable"],
                "TIMER_QUEUE_URL": self.resources.queues["TimerQueue"],
                "POWERTOOLS_SERVICE_NAME": "dealflow-local",
                "POWERTOOLS_LOG_LEVEL": "ERROR" if self.quiet else "INFO",
                # The functions' EMF metrics are printed JSON: kept out of the demo's story.
                "POWERTOOLS_METRICS_DISABLED": "true" if self.quiet else "false",
            }
        )
        runtime.reset()
        clock.use(self.clock.now, self.clock.sleep)
        self.outbox = Outbox(session, self.resources.topics["NotificationsTopic"], self.endpoint)
        self._runner_app = _load_handler("runner", self.iam)
        # Executions that end without the runner's say reach the run reconciler, as on AWS.
        self.runs_port = LocalRunStarter(
            self._runner_app.handler,
            self.clock,
            on_ended=self.execution_status_changed,
            replay_with=f"{REPO / 'functions' / 'runner' / 'app.py'}:handler" if replay.enabled() else None,
        )
        self.function_runs = RunStarterCalls(self.runs_port)  # the run starter as functions use it
        self._dispatcher_app = _load_handler("dispatcher", self.iam)
        _swap_in(self._dispatcher_app, DISPATCHER=runtime.dispatcher(self.function_runs))
        self._stream_reader = self.iam.function_for("functions/dispatcher")
        self._ssm = session.client("ssm")
        ensure_page_key(self._ssm, runtime.settings().page_token_key_parameter)
        self._reconciler_app = _load_handler("run_reconciler", self.iam)
        _swap_in(
            self._reconciler_app,
            RECONCILE=runtime.run_reconciler(self.runs_port),
            CANCELLATIONS=runtime.cancellations(self.function_runs),
        )
        self._webhooks_app = _load_handler("webhooks", self.iam)
        _swap_in(self._webhooks_app, RECEIVER=runtime.webhook_receiver(self.function_runs))
        self.webhook_secrets: dict[str, str] = {}  # tenant → the secret post_webhook signs with
        # The stream's 24-hour retention on the harness clock, and each record's shard (stream_history).
        self._history = StreamHistory(self.resources.streams["DealsTable"], self.clock).__enter__()
        self._pump = StreamPump(
            session.client("dynamodbstreams"), self.resources.streams["DealsTable"], seen=self._history.saw
        )
        if self._attach:
            self._pump.poll()  # changes made before this stack attached were another harness's to run
        self._sqs = session.client("sqs")
        reconciler = self.iam.function_for("functions/run_reconciler")
        self.cancellation_pump = QueuePump(
            self._sqs,
            self.resources.queues["CancellationQueue"],
            local_aws.queue_arn(self.resources.queues["CancellationQueue"]),
            self.resources.queues["CancellationDeadLetterQueue"],
            self.region,
            handler=lambda event: self._reconciler_app.handler(event, LambdaContext("RunReconcilerFunction")),
            mapping_role=lambda: self.iam.running(reconciler),
        )
        self.cancellations = runtime.cancellations(self.runs_port)
        self._scheduler_app = _load_handler("scheduler", self.iam)
        _swap_in(self._scheduler_app, CLOCKWORK=runtime.clockwork(self.function_runs))
        scheduler = self.iam.function_for("functions/scheduler")
        self.timer_pump = QueuePump(
            self._sqs,
            self.resources.queues["TimerQueue"],
            local_aws.queue_arn(self.resources.queues["TimerQueue"]),
            self.resources.queues["TimerDeadLetterQueue"],
            self.region,
            handler=lambda event: self._scheduler_app.handler(event, LambdaContext("SchedulerFunction")),
            mapping_role=lambda: self.iam.running(scheduler),
        )
        # The harness saves as the API does: a saved business process asks the tick to arm it.
        timers = runtime.timers()
        self.automation = AutomationStore(runtime.tables().automation, TenantCompiler(), timers.request_arm)
        self.deals = DealStore(runtime.tables().deals, runtime.tables().automation)
        self.run_log = RunLog(runtime.tables().automation)
        self.records = RecordStore(runtime.tables().automation)
        return self

    def close(self) -> None:
        """Stop everything; raises IamContractBroken if a function made a call its role forbids."""
        if getattr(self, "runs_port", None) is not None:
            self.runs_port.close()
        if getattr(self, "_history", None) is not None:
            self._history.__exit__()
        if self._saved_default_session:
            boto3.DEFAULT_SESSION = self._saved_default_session.pop()
        if self._mock is not None:
            self._mock.stop()
        if self._server is not None:
            self._server.stop()
            # An in-process server keeps its data in moto's process-wide backends, which only the
            # in-process mock resets on its own: the next server started here must begin empty.
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
        runtime.reset()
        clock.use(None)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        contract = getattr(self, "iam", None)
        if contract is not None:
            if contract.reported:
                IAM_USAGE.add(contract)
            contract.verify()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self.close()
        except IamContractBroken as broken:
            if exc is None:
                raise
            exc.add_note(str(broken))  # the test failed already; say why AWS would have refused too

    # ---- driving the engine ---------------------------------------------------------------

    def deliver(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Hand one batch of Lambda-shaped stream records to the dispatcher handler, as the event
        source mapping would (use it to redeliver a batch); returns the handler's response."""
        response = self._dispatcher_app.handler({"Records": records}, LambdaContext("DispatcherFunction"))
        self.delivered.extend(records)
        self.batch_responses.append(response)
        return response

    def _dispatch(self, records: list[dict[str, Any]], report: DrainReport) -> None:
        attempts: dict[str, int] = {}
        while records:
            response = self.deliver(records)
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            retry = []
            for record in records:
                seq = record["dynamodb"]["SequenceNumber"]
                if seq not in failed:
                    continue
                report.failed_records.append(seq)
                attempts[seq] = attempts.get(seq, 0) + 1
                if attempts[seq] > MAX_RETRIES:
                    self.give_up([record])
                    report.given_up.append(seq)
                else:
                    retry.append(record)
            records = retry

    def give_up(self, records: list[dict[str, Any]], condition: str = "RetryAttemptsExhausted") -> None:
        """What the stream mapping does with a batch of Lambda-shaped records (consecutive, of one
        shard) it gives up on: its OnFailure destination receives where they are, not the records
        (``dealflow redrive`` reads them back). Lambda sends it with the dispatcher's role."""
        failure = on_failure_record(
            records,
            self._history.shard_of(records[0]["dynamodb"]["SequenceNumber"]),
            records[0]["eventSourceARN"],
            function_arn=LambdaContext("DispatcherFunction").invoked_function_arn,
            invocations=MAX_RETRIES + 1,
            condition=condition,
        )
        with self.iam.running(self._stream_reader):
            self._sqs.send_message(
                QueueUrl=self.resources.queues["DispatcherFailureQueue"], MessageBody=json.dumps(failure)
            )

    def drain(self, max_rounds: int = 50) -> DrainReport:
        """Pump the stream into the dispatcher, the cancellation queue into its worker, and let runs
        go, until nothing moves: every run has finished or is waiting for time to pass."""
        report = DrainReport()
        before = self.runs_port.started
        for _ in range(max_rounds):
            self.runs_port.settle()
            with self.iam.running(self._stream_reader):  # the event source mapping reads with its role
                records = self._pump.poll()
            if not records:
                if not self.cancellation_pump.poll() and not self.timer_pump.poll():
                    break
                continue
            report.records += len(records)
            for start in range(0, len(records), 100):
                self._dispatch(records[start : start + 100], report)
        report.runs_started = self.runs_port.started - before
        return report

    def advance(self, *, days: int = 0, hours: int = 0, minutes: int = 0) -> DrainReport:
        """Move the clock forward (delays expire) and drain."""
        self.runs_port.settle()
        self.clock.advance(timedelta(days=days, hours=hours, minutes=minutes))
        return self.drain()

    def tick(self) -> dict[str, Any]:
        """EventBridge Scheduler's minute tick at the harness clock's time: the scheduler handles
        every timer due (schedules fire, date triggers start their runs, saved processes are
        armed), then the stream, the queues and the runs are drained. Returns the tick's report."""
        self.runs_port.settle()
        report = self._scheduler_app.handler({"tick": "dealflow"}, LambdaContext("SchedulerFunction"))
        self.drain()
        return report

    def execution_status_changed(self, event: dict[str, Any]) -> dict[str, Any]:
        """Hand a "Durable Execution Status Change" EventBridge event to the run reconciler
        handler, as EventBridge does when a runner execution ends (see events/)."""
        return self._reconciler_app.handler(event, LambdaContext("RunReconcilerFunction"))

    def failed_batches(self) -> list[dict[str, Any]]:
        """Records given up on, as the OnFailure queue holds them."""
        queue = self.resources.queues["DispatcherFailureQueue"]
        messages = self._sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


__all__ = ["DrainReport", "Email", "MotoStack", "Notification", "Path"]
