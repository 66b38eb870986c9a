"""The local invoke port: runner executions in-process through the durable testing SDK.

On AWS, invoking with a DurableExecutionName that already ran returns the existing execution. The
testing SDK starts a new execution for every call, so this port keeps the name → execution map
itself and makes a repeated start a no-op, as Lambda does.

Knowing when runs have settled: everything the SDK does for an execution (the first invocation,
each re-invocation, firing a due timer) is a task on its scheduler, and a task schedules its
successor before it ends. So the port counts the tasks due now (or a short clock hop away) and
settling is waiting for that count to reach zero: no polling, and no gap between invocations can
pass for quiet. Timers parked on the manual clock are not counted; when the count is zero, a run
that is neither finished nor parked on a future timer (the clock was advanced past its wait) is
re-armed, and one that cannot be is an error naming it rather than a hang.

As strict as AWS (``dealflow.local.strict``): an input over the limit is refused as Lambda refuses
it, checkpoints and invocations are held to the durable service's limits and the runner's own
Timeout, and an execution still open when its ExecutionTimeout (template.yaml) has passed on the
simulated clock times out. An execution that ends without the runner's say — timed out, failed,
stopped — is reported to ``on_ended`` as EventBridge reports it on AWS (the harness hands it to
the run reconciler), so its run log reaches a terminal status here as it does there.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from aws_durable_execution_sdk_python.execution import DurableExecutionInvocationInput, InitialExecutionState
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
from botocore.exceptions import ClientError

from dealflow.local.clock import ManualClock
from dealflow.local.durable_sdk import SdkSeams
from dealflow.local.replay import Replayer
from dealflow.local.strict import FunctionLimits, Strictness, WorkClock
from dealflow.model import RunRequest
from dealflow.ports import ExecutionFacts

# Execution ends the runner does not report itself; EventBridge reports them on AWS.
ENDINGS_REPORTED = frozenset({"FAILED", "TIMED_OUT", "STOPPED"})


class RunsDidNotSettle(TimeoutError):
    pass


class LocalRunStarter:
    def __init__(
        self,
        handler: Callable[[Any, Any], Any],
        clock: ManualClock,
        *,
        function: FunctionLimits | None = None,
        on_ended: Callable[[dict[str, Any]], Any] | None = None,
        replay_with: str | None = None,
    ) -> None:
        self._names: dict[str, str] = {}  # run id → execution ARN
        self._busy = 0  # scheduler tasks due now, and starts under way
        self._scheduled = 0  # tasks ever counted: tells whether re-arming a run gave it work
        self._changed = threading.Condition()
        self._clock = clock
        self._store = InMemoryExecutionStore()
        function = function or FunctionLimits.of("RunnerFunction")
        self._deadlines: dict[str, datetime] = {}  # execution ARN → when its ExecutionTimeout passes
        self._reported: set[str] = set()  # execution ARNs whose ending was handed to on_ended
        self.on_ended = on_ended
        # Replay twice (dealflow.local.replay): the handler as the worker process loads it.
        self.replay_with = replay_with
        self._replayed: dict[str, int] = {}  # execution ARN → operations it had when last replayed
        self.replays = 0  # replays made, all of which matched
        self._runner = DurableFunctionTestRunner(
            handler=handler, store=self._store, invocation_timeout=function.invocation_timeout
        )
        self._sdk = SdkSeams(self._runner)
        work = WorkClock(clock)
        self._sdk.drive_with(work)
        self._schedule: Callable[..., Future[Any]] = self._sdk.count_scheduled(self._counted)
        self.strict = Strictness(function, work, self._operation_ids)
        self._sdk.guard_checkpoints(self.strict.check)
        self._sdk.wrap_invocations(self.strict.invocation)

    @property
    def function(self) -> FunctionLimits:
        """The runner's Timeout and ExecutionTimeout (template.yaml's, unless a test deploys
        another); executions started from now on get a changed ExecutionTimeout."""
        return self.strict.function

    @function.setter
    def function(self, limits: FunctionLimits) -> None:
        self.strict.function = limits

    def _operation_ids(self, arn: str) -> set[str]:
        return {operation.operation_id for operation in self._store.load(arn).operations}

    # ---- counting the work in hand ------------------------------------------------------------

    def _counted(
        self, func: Callable[[], Any], delay: float = 0, count: int | None = 1, completion_event: Any = None
    ) -> Future[Any]:
        if self._clock.is_parked(delay):  # a timer waiting for the clock, or the execution timeout
            return self._schedule(func, delay=delay, count=count, completion_event=completion_event)
        self._more()
        try:
            future = self._schedule(func, delay=delay, count=count, completion_event=completion_event)
        except BaseException:
            self._less()
            raise
        future.add_done_callback(lambda _: self._less())
        return future

    def _more(self) -> None:
        with self._changed:
            self._busy += 1
            self._scheduled += 1

    def _less(self) -> None:
        with self._changed:
            self._busy -= 1
            if self._busy == 0:
                self._changed.notify_all()

    # ---- the port -----------------------------------------------------------------------------

    def start(self, request: RunRequest) -> bool:
        return self.start_raw(request.run_id, request.model_dump_json())

    def start_raw(self, run_id: str, payload: str) -> bool:
        """Start an execution with ``payload`` as its input, as Lambda takes whatever it is sent."""
        too_large = self.strict.check_input(payload)
        if too_large:  # Lambda refuses the invoke itself: no execution, the caller sees why
            raise ClientError(
                {
                    "Error": {"Code": "RequestEntityTooLargeException", "Message": too_large},
                    "ResponseMetadata": {"HTTPStatusCode": 413},
                },
                "Invoke",
            )
        with self._changed:
            if run_id in self._names:
                return False
            self._names[run_id] = ""
            self._busy += 1
        try:
            started = self._clock.now()
            arn = self._runner.run_async(
                input=payload,
                execution_name=run_id,
                function_name="RunnerFunction",
                execution_timeout=self.function.execution_timeout,
            )
            with self._changed:
                self._names[run_id] = arn
                self._deadlines[arn] = started + timedelta(seconds=self.function.execution_timeout)
        except BaseException:
            with self._changed:
                del self._names[run_id]
            raise
        finally:
            self._less()
        return True

    def stop(self, execution_id: str) -> bool:
        execution = self._store.load(execution_id)
        if execution.is_complete:
            return False
        self._sdk.stop(execution_id)
        return True

    def resume(self, callback_id: str, payload: str) -> bool:
        """The ``RunResumer`` port: SendDurableExecutionCallbackSuccess, in-process. False when the
        callback had closed (timed out, its execution ended), as Lambda answers CallbackTimeoutException."""
        execution = self._store.load(self.execution_of_callback(callback_id))
        if execution.is_complete or not any(
            callback == callback_id for callback, _ in self._sdk.callback_deadlines(execution)
        ):
            return False
        self._more()  # the run it resumes is work in hand until its invocation is scheduled
        try:
            self._runner.send_callback_success(callback_id, payload.encode())
        finally:
            self._less()
        return True

    @staticmethod
    def execution_of_callback(callback_id: str) -> str:
        """The execution a callback belongs to (its id carries it, as on AWS)."""
        from aws_durable_execution_sdk_python_testing.token import CallbackToken

        return str(CallbackToken.from_str(callback_id).execution_arn)

    def time_out(self, run_id: str) -> str:
        """End a run's execution as its time limit would on AWS (the runner gets no say); returns
        the execution's id."""
        arn = self._names[run_id]
        self._sdk.time_out(arn, "Execution timed out.")
        return arn

    def describe(self, execution_id: str) -> ExecutionFacts | None:
        """The ``Executions`` port: the request an execution was started with, and its error."""
        try:
            execution = self._store.load(execution_id)
        except KeyError:
            return None
        payload = execution.start_input.input
        error = execution.result.error if execution.result is not None else None
        return ExecutionFacts(request=json.loads(payload) if payload else None, error=error.message if error else None)

    def execution_of(self, run_id: str) -> str | None:
        return self._names.get(run_id) or None

    @property
    def started(self) -> int:
        return len(self._names)

    def _at_rest(self, arn: str) -> bool:
        """Finished, or parked on a timer (a wait, a step retry, a callback's timeout) that is not
        due yet."""
        execution = self._store.load(arn)
        if execution.is_complete:
            return True
        due, now = self._sdk.earliest_due(execution), self._clock.now()
        if due is not None:
            return due > now
        return any(moment > now for _, moment in self._sdk.callback_deadlines(execution))

    def _time_out_callbacks(self) -> None:
        """Callbacks whose timeout the clock has passed time out now (their timers ran on real time)."""
        now = self._clock.now()
        with self._changed:
            arns = [arn for arn in self._names.values() if arn]
        for arn in arns:
            execution = self._store.load(arn)
            if execution.is_complete:
                continue
            for callback_id, due in self._sdk.callback_deadlines(execution):
                if due <= now:
                    self._more()
                    try:
                        self._sdk.time_out_callback(arn, callback_id)
                    finally:
                        self._less()

    def _time_out_overdue(self) -> None:
        """The ExecutionTimeout runs on the simulated clock: an execution still open past it ends
        as on AWS, before any timer the clock also passed can fire."""
        now = self._clock.now()
        with self._changed:
            overdue = [arn for arn, deadline in self._deadlines.items() if deadline <= now]
        for arn in overdue:
            if not self._store.load(arn).is_complete:
                self._sdk.time_out(arn, f"Execution timed out after {self.function.execution_timeout} seconds.")
            with self._changed:
                self._deadlines.pop(arn, None)

    def _replay_twice(self, arns: list[str]) -> None:
        """Replay each run that finished or parked on a timer since its last replay, in another
        process with other seeds; raises ``ReplayDiverged`` naming the run and the operation."""
        if self.replay_with is None:
            return
        for arn in arns:
            execution = self._store.load(arn)
            expected = "SUCCEEDED" if execution.is_complete else "PENDING"
            if execution.is_complete and self.status_of(execution) != "SUCCEEDED":
                continue  # a failed execution's refused operation would replay as "new"
            if self._replayed.get(arn) == len(execution.operations):
                continue
            self._replayed[arn] = len(execution.operations)
            recorded = DurableExecutionInvocationInput(
                durable_execution_arn=arn,
                checkpoint_token="replay",
                initial_execution_state=InitialExecutionState(operations=list(execution.operations), next_marker=""),
            )
            Replayer.shared().replay(
                self.replay_with, execution.start_input.execution_name, dict(recorded.to_json_dict()), expected
            )
            self.replays += 1

    @staticmethod
    def status_of(execution: Any) -> str:
        return str(execution.close_status.value) if execution.is_complete and execution.close_status else "RUNNING"

    def _report_endings(self) -> bool:
        """Hand each execution that ended without the runner's say to ``on_ended``, once, as the
        EventBridge "Durable Execution Status Change" event AWS sends; True if any was reported."""
        if self.on_ended is None:
            return False
        with self._changed:
            named = [(run_id, arn) for run_id, arn in self._names.items() if arn and arn not in self._reported]
        reported = False
        for run_id, arn in named:
            status = self.status(run_id)
            if status not in ENDINGS_REPORTED:
                continue
            self._reported.add(arn)
            self.on_ended(status_change(arn, run_id, status, self._clock.now()))
            reported = True
        return reported

    def settle(self, timeout: float = 60.0) -> None:
        """Block until no run is executing and every run is finished or waiting on a timer; runs
        past their ExecutionTimeout are timed out, and executions that ended without the runner's
        say are reported to ``on_ended``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                if not self._changed.wait_for(lambda: self._busy == 0, max(0.0, deadline - time.monotonic())):
                    raise RunsDidNotSettle(f"runs still executing after {timeout}s")
            self._time_out_overdue()
            self._time_out_callbacks()
            with self._changed:
                if self._busy:  # a callback timed out: its run is going on
                    continue
                arns, scheduled = [arn for arn in self._names.values() if arn], self._scheduled
            restless = [arn for arn in arns if not self._at_rest(arn)]
            if not restless:
                self._replay_twice(arns)
                if self._report_endings():
                    continue  # the reconciler's writes may have work for others
                return
            for arn in restless:  # their timers were armed before the clock moved past them
                self._sdk.rearm(arn)
            with self._changed:
                if self._scheduled == scheduled:
                    raise RunsDidNotSettle(
                        f"runs neither finished nor waiting on a timer, with nothing to do: {restless}"
                    )

    def status(self, run_id: str) -> str | None:
        arn = self._names.get(run_id)
        if not arn:
            return None
        return self.status_of(self._store.load(arn))

    def close(self) -> None:
        self._runner.close()


def status_change(arn: str, run_id: str, status: str, at: datetime) -> dict[str, Any]:
    """The EventBridge event AWS sends when a runner execution ends (see events/)."""
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "version": "0",
        "id": f"local-{run_id}-{status.lower()}",
        "detail-type": "Durable Execution Status Change",
        "source": "aws.lambda",
        "account": "123456789012",
        "time": stamp,
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "durableExecutionArn": arn,
            "durableExecutionName": run_id,
            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:RunnerFunction",
            "status": status,
            "endTimestamp": stamp,
        },
    }
