"""The one place the harness reaches into the durable testing SDK's private parts.

``DurableFunctionTestRunner`` offers no public way to give it our clock, to know when its scheduler
has work in hand, to see a checkpoint before it is applied, to see an invocation end, or to time an
execution out. Each of those is done here, by name, and nowhere else: ``SdkSeams`` checks every
attribute it needs when it is built, so an SDK upgrade that moves one fails loudly (``SdkMoved``,
and ``tests/unit/test_durable_sdk_seams.py``) instead of quietly running without the check.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any

from aws_durable_execution_sdk_python.execution import DurableExecutionInvocationInput
from aws_durable_execution_sdk_python.lambda_service import ErrorObject, OperationUpdate
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.executor import Executor
from aws_durable_execution_sdk_python_testing.token import CheckpointToken

SDK = "aws-durable-execution-sdk-python-testing"
# What the seams were written against; another version is still tried, but the check names it.
KNOWN_VERSION = "1.4.0"

# Sees a checkpoint before the SDK applies it: (execution ARN, updates). Raising refuses it.
CheckpointGuard = Callable[[str, list[OperationUpdate]], None]
# Wraps one invocation: (execution ARN, the invocation, as a thunk) → its response.
InvocationWrapper = Callable[[str, Callable[[], Any]], Any]


class SdkMoved(RuntimeError):
    """The testing SDK no longer has an attribute the local runner relies on."""


def _require(owner: object, name: str) -> Any:
    if not hasattr(owner, name):
        raise SdkMoved(
            f"{SDK} {version(SDK)} has no {type(owner).__name__}.{name} (written against {KNOWN_VERSION}): "
            "update dealflow/local/durable_sdk.py before trusting local runs"
        )
    return getattr(owner, name)


class SdkSeams:
    """The testing runner's private attributes, reached only through these methods."""

    def __init__(self, runner: DurableFunctionTestRunner) -> None:
        self._runner = runner
        self._executor: Executor = _require(runner, "_executor")
        self._processor = _require(runner, "_checkpoint_processor")
        self._scheduler = _require(runner, "_scheduler")
        self._invoker = _require(runner, "_invoker")
        for owner, name in (
            (runner, "_clock"),
            (self._executor, "_clock"),
            (self._processor, "_clock"),
            (self._executor, "RETRY_BACKOFF_SECONDS"),
            (self._executor, "_schedule_earliest_pending"),
            (self._executor, "on_timed_out"),
            (self._executor, "stop_execution"),
            (self._executor, "_on_callback_timeout"),
            (self._processor, "process_checkpoint"),
            (self._scheduler, "call_later"),
            (self._invoker, "invoke"),
            (Executor, "_earliest_pending_timestamp"),
        ):
            _require(owner, name)

    def drive_with(self, clock: Any) -> None:
        """The runner builds its own clock; ours must drive both its timers and its timestamps. A
        handler invocation that raised is retried after ``RETRY_BACKOFF_SECONDS`` real seconds:
        on the manual clock short back-offs pass at once, as step retries do."""
        self._runner._clock = clock
        self._executor._clock = clock
        self._processor._clock = clock
        self._executor.RETRY_BACKOFF_SECONDS = 0

    def count_scheduled(self, counted: Callable[..., Future[Any]]) -> Callable[..., Future[Any]]:
        """Route every task the scheduler is given through ``counted``; returns the original
        ``call_later`` for ``counted`` to hand the task on to."""
        original: Callable[..., Future[Any]] = self._scheduler.call_later
        self._scheduler.call_later = counted
        return original

    def guard_checkpoints(self, guard: CheckpointGuard) -> None:
        """Let ``guard`` see (and refuse, by raising) every checkpoint before it is applied."""
        process = self._processor.process_checkpoint

        def guarded(checkpoint_token: str, updates: list[OperationUpdate], client_token: str | None) -> Any:
            guard(CheckpointToken.from_str(checkpoint_token).execution_arn, updates)
            return process(checkpoint_token, updates, client_token)

        self._processor.process_checkpoint = guarded

    def wrap_invocations(self, wrapper: InvocationWrapper) -> None:
        """Run every handler invocation through ``wrapper``. An exception it raises is the
        invocation's: ``TimeoutError`` is a Lambda timeout (the SDK re-invokes), anything else an
        invocation error."""
        invoke = self._invoker.invoke

        def wrapped(function_name: str, invocation: DurableExecutionInvocationInput, *args: Any, **kwargs: Any) -> Any:
            return wrapper(invocation.durable_execution_arn, lambda: invoke(function_name, invocation, *args, **kwargs))

        self._invoker.invoke = wrapped

    def time_out(self, arn: str, message: str) -> None:
        """End an execution as its ExecutionTimeout does on AWS: the handler gets no say."""
        self._executor.on_timed_out(arn, ErrorObject.from_message(message))

    def stop(self, arn: str) -> None:
        """Stop an execution, as StopDurableExecution does."""
        self._executor.stop_execution(arn)

    def rearm(self, arn: str) -> None:
        """Schedule an execution's earliest pending timer again (the clock moved past it)."""
        self._executor._schedule_earliest_pending(arn)

    def time_out_callback(self, arn: str, callback_id: str) -> None:
        """End a callback as its timeout does: the execution resumes with it timed out."""
        self._executor._on_callback_timeout(arn, callback_id)

    @staticmethod
    def callback_deadlines(execution: Any) -> list[tuple[str, datetime]]:
        """Each open callback with a timeout, and when it times out. The SDK arms a callback's
        timeout as a timer of real seconds, which the harness's clock never moves; the run starter
        fires it itself once the clock has passed it."""
        timeouts = {
            update.operation_id: update.callback_options.timeout_seconds
            for update in execution.updates
            if update.callback_options is not None and update.callback_options.timeout_seconds > 0
        }
        found = []
        for op in execution.operations:
            if (
                op.operation_type.value == "CALLBACK"
                and op.status.value == "STARTED"
                and op.callback_details is not None
                and op.start_timestamp is not None
                and op.operation_id in timeouts
            ):
                due = op.start_timestamp + timedelta(seconds=timeouts[op.operation_id])
                found.append((op.callback_details.callback_id, due))
        return found

    @staticmethod
    def earliest_due(execution: Any) -> datetime | None:
        """When an execution's earliest pending timer (a wait, a step retry) is due."""
        due: datetime | None = Executor._earliest_pending_timestamp(execution)
        return due
