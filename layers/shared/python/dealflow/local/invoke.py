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
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.executor import Executor
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore

from dealflow.local.clock import ManualClock
from dealflow.model import RunRequest
from dealflow.ports import ExecutionFacts

ONE_YEAR = 365 * 24 * 3600


class RunsDidNotSettle(TimeoutError):
    pass


class LocalRunStarter:
    def __init__(self, handler: Callable[[Any, Any], Any], clock: ManualClock) -> None:
        self._names: dict[str, str] = {}  # run id → execution ARN
        self._busy = 0  # scheduler tasks due now, and starts under way
        self._scheduled = 0  # tasks ever counted: tells whether re-arming a run gave it work
        self._changed = threading.Condition()
        self._clock = clock
        self._store = InMemoryExecutionStore()
        self._runner = DurableFunctionTestRunner(handler=handler, store=self._store)
        self._executor: Executor = self._runner._executor
        # The runner builds its own clock; ours must drive both its timers and its timestamps.
        self._runner._clock = clock
        self._executor._clock = clock
        self._runner._checkpoint_processor._clock = clock
        # A handler invocation that raised is retried after this many real seconds; on the manual
        # clock short back-offs pass at once, as step retries do.
        self._executor.RETRY_BACKOFF_SECONDS = 0
        scheduler = self._runner._scheduler
        self._schedule: Callable[..., Future[Any]] = scheduler.call_later
        scheduler.call_later = self._counted  # type: ignore[method-assign]

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
        with self._changed:
            if run_id in self._names:
                return False
            self._names[run_id] = ""
            self._busy += 1
        try:
            arn = self._runner.run_async(
                input=payload,
                execution_name=run_id,
                function_name="RunnerFunction",
                execution_timeout=ONE_YEAR,
            )
            with self._changed:
                self._names[run_id] = arn
        except BaseException:
            with self._changed:
                del self._names[run_id]
            raise
        finally:
            self._less()
        return True

    def stop(self, execution_id: str) -> None:
        execution = self._store.load(execution_id)
        if not execution.is_complete:
            self._executor.stop_execution(execution_id)

    def time_out(self, run_id: str) -> str:
        """End a run's execution as its time limit would on AWS (the runner gets no say); returns
        the execution's id."""
        arn = self._names[run_id]
        self._runner._executor.on_timed_out(arn, ErrorObject.from_message("Execution timed out."))
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
        """Finished, or parked on a timer (a wait, a step retry) that is not due yet."""
        execution = self._store.load(arn)
        if execution.is_complete:
            return True
        due = Executor._earliest_pending_timestamp(execution)
        return due is not None and due > self._clock.now()

    def settle(self, timeout: float = 60.0) -> None:
        """Block until no run is executing and every run is finished or waiting on a timer."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                if not self._changed.wait_for(lambda: self._busy == 0, max(0.0, deadline - time.monotonic())):
                    raise RunsDidNotSettle(f"runs still executing after {timeout}s")
                arns, scheduled = list(self._names.values()), self._scheduled
            restless = [arn for arn in arns if not self._at_rest(arn)]
            if not restless:
                return
            for arn in restless:  # their timers were armed before the clock moved past them
                self._executor._schedule_earliest_pending(arn)
            with self._changed:
                if self._scheduled == scheduled:
                    raise RunsDidNotSettle(
                        f"runs neither finished nor waiting on a timer, with nothing to do: {restless}"
                    )

    def status(self, run_id: str) -> str | None:
        arn = self._names.get(run_id)
        if not arn:
            return None
        execution = self._store.load(arn)
        return str(execution.close_status.value) if execution.is_complete and execution.close_status else "RUNNING"

    def close(self) -> None:
        self._runner.close()
