"""The local runner is as strict as AWS: what the durable service or Lambda would refuse or kill
fails here the same way, and the run log of such a run still ends ``failed`` with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.exceptions import CheckpointError
from aws_durable_execution_sdk_python.lambda_service import OperationAction, OperationType, OperationUpdate
from botocore.exceptions import ClientError

from dealflow import limits
from dealflow.local import MotoStack
from dealflow.local.clock import ManualClock
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.local.invoke import LocalRunStarter
from dealflow.local.strict import FunctionLimits, Strictness, WorkClock

RUNNER = FunctionLimits.of("RunnerFunction")


@durable_execution
def one_step_of(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """A step whose result is ``event["size"]`` characters long."""
    context.step(lambda _: "x" * event["size"], name="snapshot")
    return {}


@durable_execution
def waits(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    context.wait(Duration.from_seconds(event["seconds"]), name="delay")
    return {}


@pytest.fixture
def ended() -> list[dict[str, Any]]:
    return []


@contextmanager
def starter(handler: Any, ended: list[dict[str, Any]], **function: int) -> Iterator[LocalRunStarter]:
    port = LocalRunStarter(handler, ManualClock(), function=replace(RUNNER, **function), on_ended=ended.append)
    try:
        yield port
    finally:
        port.close()


def run(port: LocalRunStarter, run_id: str, event: dict[str, Any]) -> tuple[str | None, str | None]:
    port.start_raw(run_id, json.dumps(event))
    port.settle()
    facts = port.describe(port.execution_of(run_id) or "")
    return port.status(run_id), facts.error if facts else None


def test_the_limits_come_from_template_yaml() -> None:
    assert RUNNER.invocation_timeout == 120
    assert RUNNER.execution_timeout == limits.RUNNER_EXECUTION_TIMEOUT_SECONDS


def test_a_step_result_over_256_kib_as_the_sdk_serialises_it_fails_the_execution(ended: list[dict[str, Any]]) -> None:
    with starter(one_step_of, ended) as port:
        # The SDK's envelope around a string result is a few bytes: just under the limit passes.
        assert run(port, "fits", {"size": limits.MAX_CHECKPOINT_PAYLOAD_BYTES - 64}) == ("SUCCEEDED", None)
        status, error = run(port, "too-big", {"size": limits.MAX_CHECKPOINT_PAYLOAD_BYTES})

    assert status == "FAILED"
    assert error is not None and "checkpoint of operation 'snapshot' is 262,1" in error
    assert error.endswith("over the 262,144-byte limit per operation")
    assert [(e["detail"]["durableExecutionName"], e["detail"]["status"]) for e in ended] == [("too-big", "FAILED")]


@durable_execution
def polish_body(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    context.step(lambda _: "ż" * event["characters"], name="body")
    return {}


def test_non_ascii_text_is_measured_after_the_sdks_escaping() -> None:
    # 50,000 characters of Polish: 100 KB of UTF-8, but six bytes each once the SDK escaped them.
    with starter(polish_body, []) as port:
        assert run(port, "short", {"characters": 40_000})[0] == "SUCCEEDED"
        status, error = run(port, "long", {"characters": 50_000})
    assert status == "FAILED" and error is not None and "'body' is 300,0" in error


def test_a_wait_past_the_maximum_fails_the_execution(ended: list[dict[str, Any]]) -> None:
    with starter(waits, ended) as port:
        assert run(port, "a-year", {"seconds": limits.MAX_WAIT_SECONDS})[0] == "RUNNING"
        status, error = run(port, "longer", {"seconds": limits.MAX_WAIT_SECONDS + 1})
    assert (status, error) == ("FAILED", "wait 'delay' of 31,622,401 s is over the maximum of 31,622,400 s")


def test_an_execution_past_its_execution_timeout_times_out_in_simulated_time(ended: list[dict[str, Any]]) -> None:
    clock = ManualClock()
    port = LocalRunStarter(waits, clock, function=replace(RUNNER, execution_timeout=86_400), on_ended=ended.append)
    try:
        assert run(port, "two-days", {"seconds": 2 * 86_400})[0] == "RUNNING"
        clock.advance(timedelta(hours=23))
        port.settle()
        assert port.status("two-days") == "RUNNING" and ended == []

        clock.advance(timedelta(hours=2))
        port.settle()

        assert port.status("two-days") == "TIMED_OUT"
        assert [e["detail"]["status"] for e in ended] == ["TIMED_OUT"]
    finally:
        port.close()


def runs_a_step_that(work: Any) -> Any:
    @durable_execution
    def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        context.step(lambda _: work(), name="work")
        return {}

    return handler


def test_an_invocation_that_outlasts_the_runners_timeout_is_killed_and_invoked_again() -> None:
    clock, attempts = ManualClock(), []

    def work() -> str:
        attempts.append(clock.now())
        if len(attempts) == 1:  # the first attempt outlasts the Timeout: Lambda kills it
            clock.advance(timedelta(seconds=RUNNER.invocation_timeout + 1))
        return "done"

    port = LocalRunStarter(runs_a_step_that(work), clock)
    try:
        assert run(port, "slow", {}) == ("SUCCEEDED", None)
    finally:
        port.close()
    assert len(attempts) == 2  # its checkpoint was lost with it, so the step ran again


def test_back_off_hops_taken_meanwhile_are_not_an_invocations_work() -> None:
    attempts = []

    def work() -> str:
        attempts.append(port.strict.clock.now())
        for _ in range(4):  # the SDK arms four 40 s back-offs of other runs while this step runs
            port.strict.clock.arm(port.strict.clock.now() + timedelta(seconds=40))
        return "done"

    port = LocalRunStarter(runs_a_step_that(work), ManualClock())
    try:
        assert run(port, "quick", {}) == ("SUCCEEDED", None)
    finally:
        port.close()
    assert len(attempts) == 1


def test_an_input_over_256_kib_is_refused_as_lambda_refuses_it() -> None:
    with starter(waits, []) as port:
        with pytest.raises(ClientError) as refused:
            port.start_raw("huge", json.dumps({"seconds": 60, "pad": "x" * limits.MAX_EXECUTION_INPUT_BYTES}))
        assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
        assert port.started == 0


def test_the_3001st_operation_of_an_execution_is_refused() -> None:
    # The execution's own operation and 2,998 steps are there already.
    known = {f"op-{i}" for i in range(limits.MAX_OPERATIONS_PER_EXECUTION - 1)}
    strict = Strictness(RUNNER, WorkClock(ManualClock()), lambda arn: set(known))
    step = OperationUpdate(operation_id="op-2999", operation_type=OperationType.STEP, action=OperationAction.START)

    strict.check("arn", [step])  # the 3,000th: allowed
    strict.check("arn", [replace(step, action=OperationAction.SUCCEED)])  # the same operation again
    with pytest.raises(CheckpointError, match="3,001 operations, over the maximum of 3,000 per durable execution"):
        strict.check("arn", [replace(step, operation_id="op-3000")])


# ---- through the whole local flow -----------------------------------------------------------------


@pytest.fixture
def short_lived() -> Iterator[MotoStack]:
    """The demo tenant, with the runner deployed with a one-day ExecutionTimeout."""
    with MotoStack() as local:
        local.runs_port.function = replace(local.runs_port.function, execution_timeout=86_400)
        set_up(local)
        yield local


def test_a_run_that_outlives_its_execution_timeout_ends_failed_in_the_run_log(short_lived: MotoStack) -> None:
    stack = short_lived
    stack.create_deal(demo_deal("d-1", "Website", "100.00", "services"))
    stack.move_deal(TENANT, "d-1", "proposal")  # the follow-up waits two days
    stack.drain()

    stack.advance(days=2)

    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "proposal-follow-up"]
    assert run.status == "failed"
    assert run.reason is not None and run.reason.startswith("time limit: the run reached the runner's time limit")
    assert stack.emails() == [] and stack.tasks(TENANT) == []


class SlowerThanTheTimeout:
    """The automation source, each read outlasting the runner's Timeout (a throttled table, a
    tenant far too big): every invocation is killed before the run gets anywhere."""

    def __init__(self, source: Any, stack: MotoStack) -> None:
        self._source, self._stack = source, stack

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def load(self, tenant_id: str) -> Any:
        loaded = self._source.load(tenant_id)
        self._stack.clock.advance(timedelta(seconds=self._stack.runs_port.function.invocation_timeout + 1))
        return loaded


def test_a_run_whose_invocations_are_all_killed_ends_failed_in_the_run_log(stack: MotoStack) -> None:
    runner = stack._runner_app
    runner.SERVICES = replace(runner.SERVICES, automation=SlowerThanTheTimeout(runner.SERVICES.automation, stack))
    stack.create_deal(demo_deal("d-1", "Website", "100.00", "services"))
    stack.move_deal(TENANT, "d-1", "lost")

    stack.drain()

    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "lost-email"]
    assert run.status == "failed"  # not "running" forever: the execution failed, the reconciler said so
    assert run.reason == ("runner: the runner stopped before it could record why: Function timed out after 120 seconds")
    assert stack.emails() == []
