"""AWS's limits on a durable execution, enforced on local runs the way AWS enforces them.

The durable service refuses a checkpoint that breaks a limit — a payload over 256 KB as the SDK
serialised it, the 3,001st operation, a wait past the maximum — and the execution fails; a Lambda
invocation that runs past the function's Timeout is killed, and whatever it had not checkpointed
is lost. ``Strictness`` holds those rules for one local runner: ``check`` sees every checkpoint
(through ``SdkSeams.guard_checkpoints``), ``invocation`` every handler invocation (through
``SdkSeams.wrap_invocations``), on the harness's simulated clock (``WorkClock``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python.exceptions import CheckpointError, DurableApiErrorCategory
from aws_durable_execution_sdk_python.lambda_service import OperationUpdate

from dealflow import limits
from dealflow.local.cfn_yaml import load_template
from dealflow.local.provision import TEMPLATE


@dataclass(frozen=True)
class FunctionLimits:
    """What template.yaml gives one durable function: its invocation Timeout and its
    DurableConfig.ExecutionTimeout, in seconds."""

    invocation_timeout: int
    execution_timeout: int

    @classmethod
    def of(cls, function: str = "RunnerFunction", template: Path = TEMPLATE) -> FunctionLimits:
        loaded = load_template(template)
        properties = loaded["Resources"][function]["Properties"]
        defaults = loaded.get("Globals", {}).get("Function", {})
        timeout = int(properties.get("Timeout", defaults.get("Timeout", 3)))  # Lambda's own default: 3 s
        execution = properties.get("DurableConfig", {}).get("ExecutionTimeout")
        if execution is None:
            raise ValueError(f"{function} in {template.name} has no DurableConfig.ExecutionTimeout")
        return cls(invocation_timeout=timeout, execution_timeout=int(execution))


class WorkClock:
    """The harness's clock as the SDK sees it, keeping count of the short hops it takes for
    back-offs (``ManualClock.arm``): those pass while nothing runs, so they are nobody's work,
    whereas time advanced while an invocation runs is that invocation's."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hopped = timedelta(0)

    def now(self) -> datetime:
        now: datetime = self._clock.now()
        return now

    def arm(self, wake: datetime) -> float:
        before = self._clock.now()
        delay: float = self._clock.arm(wake)
        if delay == 0:
            with self._lock:
                self._hopped += max(timedelta(0), self._clock.now() - before)
        return delay

    def hopped(self) -> timedelta:
        with self._lock:
            return self._hopped


def refused(problem: str) -> CheckpointError:
    """The service's answer to a checkpoint that breaks a limit: a 400 the SDK does not retry, so
    the execution fails with ``problem`` as its error."""
    return CheckpointError(
        problem,
        error_category=DurableApiErrorCategory.EXECUTION,
        error={"Code": "InvalidParameterValueException", "Message": problem},
        response_metadata={
            "RequestId": None,
            "HostId": None,
            "HTTPStatusCode": 400,
            "HTTPHeaders": None,
            "RetryAttempts": None,
        },
    )


def _killed(problem: str) -> CheckpointError:
    """What a checkpoint sent after the invocation's Timeout gets: nothing reaches the service from
    a killed invocation, so the SDK must stop here (a retryable error ends the invocation)."""
    return CheckpointError(problem, error_category=DurableApiErrorCategory.INVOCATION)


def payload_bytes(update: OperationUpdate) -> int:
    """An update's size as the service counts it: its payload and error, as the SDK serialised
    them (the SDK's envelope and JSON escaping included), in UTF-8 bytes."""
    size = len(update.payload.encode()) if update.payload else 0
    if update.error is not None:
        size += sum(len(part.encode()) for part in (update.error.message, update.error.data) if part)
    return size


class Strictness:
    """The limits of one local runner's executions, checked on every checkpoint and invocation."""

    def __init__(self, function: FunctionLimits, clock: WorkClock, operation_ids: Callable[[str], set[str]]) -> None:
        self.function = function
        self.clock = clock  # the clock the SDK arms its timers on
        self._operation_ids = operation_ids
        self._lock = threading.Lock()
        self._invoked_at: dict[str, tuple[datetime, timedelta]] = {}  # execution ARN → its invocation's start
        self._stored: dict[str, int] = {}  # execution ARN → payload bytes persisted so far
        self._ids: dict[str, set[str]] = {}  # execution ARN → its operations' ids

    def check(self, arn: str, updates: list[OperationUpdate]) -> None:
        """Refuse a checkpoint as the service would; raises ``CheckpointError``."""
        with self._lock:
            began = self._invoked_at.get(arn)
        if began is not None and self._worked(began) > timedelta(seconds=self.function.invocation_timeout):
            raise _killed(f"the invocation ran past the function's Timeout of {self.function.invocation_timeout} s")
        for update in updates:
            size = payload_bytes(update)
            if size > limits.MAX_CHECKPOINT_PAYLOAD_BYTES:
                raise refused(
                    f"checkpoint of operation '{update.name or update.operation_id}' is {size:,} bytes, "
                    f"over the {limits.MAX_CHECKPOINT_PAYLOAD_BYTES:,}-byte limit per operation"
                )
            wait = update.wait_options.wait_seconds if update.wait_options else 0
            if wait > limits.MAX_WAIT_SECONDS:
                raise refused(
                    f"wait '{update.name or update.operation_id}' of {wait:,} s is over the maximum of "
                    f"{limits.MAX_WAIT_SECONDS:,} s"
                )
        with self._lock:
            if arn not in self._ids:  # the execution's own operation, and any made before we looked
                self._ids[arn] = set(self._operation_ids(arn))
            known = self._ids[arn]
            fresh = {u.operation_id for u in updates} - known
            count = len(known) + len(fresh)
        if count > limits.MAX_OPERATIONS_PER_EXECUTION:
            raise refused(
                f"the execution would have {count:,} operations, over the maximum of "
                f"{limits.MAX_OPERATIONS_PER_EXECUTION:,} per durable execution"
            )
        with self._lock:
            known |= fresh
            stored = self._stored.get(arn, 0) + sum(payload_bytes(u) for u in updates)
            self._stored[arn] = stored
        if stored > limits.MAX_EXECUTION_STORAGE_BYTES:
            raise refused(
                f"the execution has persisted {stored:,} bytes, over the "
                f"{limits.MAX_EXECUTION_STORAGE_BYTES:,}-byte limit per durable execution"
            )

    def footprint(self, arn: str) -> tuple[int, int]:
        """An execution's durable operations so far (its own included), and the payload bytes its
        checkpoints persisted, as the service counts them."""
        with self._lock:
            return len(self._ids.get(arn, ())), self._stored.get(arn, 0)

    def _start(self) -> tuple[datetime, timedelta]:
        return self.clock.now(), self.clock.hopped()

    def _worked(self, began: tuple[datetime, timedelta]) -> timedelta:
        """Simulated time an invocation has run, back-off hops taken meanwhile left out."""
        at, hopped = began
        return (self.clock.now() - at) - (self.clock.hopped() - hopped)

    def invocation(self, arn: str, invoke: Callable[[], Any]) -> Any:
        """Run one invocation; one whose simulated work took longer than the function's Timeout
        ends as Lambda ends it, with ``TimeoutError`` (its late checkpoints were refused)."""
        began = self._start()
        budget = timedelta(seconds=self.function.invocation_timeout)
        with self._lock:
            self._invoked_at[arn] = began
        try:
            response = invoke()
        except Exception as error:
            if self._worked(began) > budget:
                raise self._timed_out() from error
            raise
        finally:
            with self._lock:
                self._invoked_at.pop(arn, None)
        if self._worked(began) > budget:
            raise self._timed_out()
        return response

    def _timed_out(self) -> TimeoutError:
        return TimeoutError(f"Task timed out after {self.function.invocation_timeout} seconds")

    def check_input(self, payload: str) -> str | None:
        """Why Lambda would refuse to start an execution with this input, or None."""
        size = len(payload.encode())
        if size > limits.MAX_EXECUTION_INPUT_BYTES:
            return (
                f"the execution input is {size:,} bytes, over the {limits.MAX_EXECUTION_INPUT_BYTES:,}-byte limit "
                "of a durable execution's input"
            )
        return None
