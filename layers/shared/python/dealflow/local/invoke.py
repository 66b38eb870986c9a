"""The local invoke port: runner executions in-process through the durable testing SDK.

On AWS, invoking with a DurableExecutionName that already ran returns the existing execution. The
testing SDK starts a new execution for every call, so this port keeps the name → execution map
itself and makes a repeated start a no-op, as Lambda does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_durable_execution_sdk_python.lambda_service import ErrorObject, OperationStatus, OperationType
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore

from dealflow.local.clock import ManualClock
from dealflow.model import RunRequest
from dealflow.ports import ExecutionFacts

ONE_YEAR = 365 * 24 * 3600


class RunsDidNotSettle(TimeoutError):
    pass


class LocalRunStarter:
    def __init__(self, handler: Callable[[Any, Any], Any], clock: ManualClock) -> None:
        self._inflight = 0
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        self._clock = clock
        self._store = InMemoryExecutionStore()
        self._runner = DurableFunctionTestRunner(handler=self._tracked(handler), store=self._store)
        # The runner builds its own clock; ours must drive both its timers and its timestamps.
        self._runner._clock = clock
        self._runner._executor._clock = clock
        self._runner._checkpoint_processor._clock = clock

    def _tracked(self, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def invoke(event: Any, context: Any) -> Any:
            with self._lock:
                self._inflight += 1
            try:
                return handler(event, context)
            finally:
                with self._lock:
                    self._inflight -= 1

        return invoke

    def start(self, request: RunRequest) -> bool:
        return self.start_raw(request.run_id, request.model_dump_json())

    def start_raw(self, run_id: str, payload: str) -> bool:
        """Start an execution with ``payload`` as its input, as Lambda takes whatever it is sent."""
        with self._lock:
            if run_id in self._names:
                return False
            self._names[run_id] = ""
        arn = self._runner.run_async(
            input=payload,
            execution_name=run_id,
            function_name="RunnerFunction",
            execution_timeout=ONE_YEAR,
        )
        with self._lock:
            self._names[run_id] = arn
        return True

    def stop(self, execution_id: str) -> None:
        execution = self._store.load(execution_id)
        if not execution.is_complete:
            self._runner._executor.stop_execution(execution_id)

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

    def _settled(self, arn: str, now: datetime) -> bool:
        """Finished, or parked on a timer that is not due yet."""
        if not arn:
            return False
        execution = self._store.load(arn)
        if execution.is_complete:
            return True
        pending = [
            op.wait_details.scheduled_end_timestamp
            for op in execution.operations
            if op.operation_type is OperationType.WAIT
            and op.status is OperationStatus.STARTED
            and op.wait_details is not None
            and op.wait_details.scheduled_end_timestamp is not None
        ]
        retrying = any(
            op.operation_type is OperationType.STEP and op.status is OperationStatus.PENDING
            for op in execution.operations
        )
        return bool(pending) and not retrying and min(pending) > now

    def settle(self, timeout: float = 60.0) -> None:
        """Block until no run is executing and every run is finished or waiting on a timer."""
        deadline = time.monotonic() + timeout
        quiet_polls = 0
        while time.monotonic() < deadline:
            with self._lock:
                inflight, arns = self._inflight, list(self._names.values())
            now = self._clock.now()
            quiet = inflight == 0 and all(self._settled(arn, now) for arn in arns)
            quiet_polls = quiet_polls + 1 if quiet else 0
            if quiet_polls >= 3:  # seen still three times in a row: not a gap between invocations
                return
            time.sleep(0.01)
        raise RunsDidNotSettle(f"runs still executing after {timeout}s")

    def status(self, run_id: str) -> str | None:
        arn = self._names.get(run_id)
        if not arn:
            return None
        execution = self._store.load(arn)
        return str(execution.close_status.value) if execution.is_complete and execution.close_status else "RUNNING"

    def close(self) -> None:
        self._runner.close()
