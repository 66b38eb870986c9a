"""The local invoke port on its own: runs in-process on the durable testing SDK, time standing still
until it is advanced, and settling that neither returns early nor waits on the wall clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration

from dealflow.local.clock import ManualClock
from dealflow.local.invoke import LocalRunStarter
from dealflow.model import RunRequest

REQUEST = RunRequest.model_validate(
    json.loads((Path(__file__).resolve().parents[2] / "events" / "runner-start.json").read_text())
)


@pytest.fixture
def done() -> list[str]:
    return []


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _port(handler: Any, clock: ManualClock) -> Iterator[LocalRunStarter]:
    port = LocalRunStarter(handler, clock)
    try:
        yield port
    finally:
        port.close()


@pytest.fixture
def waiting(done: list[str], clock: ManualClock) -> Iterator[LocalRunStarter]:
    """A run that does a step, waits two days, then does another."""

    @durable_execution
    def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        context.step(lambda _: done.append("before"), name="before")
        context.wait(Duration.from_days(2), name="two days")
        context.step(lambda _: done.append("after"), name="after")
        return {}

    yield from _port(handler, clock)


@pytest.fixture
def failing(done: list[str], clock: ManualClock) -> Iterator[LocalRunStarter]:
    """A handler that raises on every invocation, outside any durable step."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        done.append("invoked")
        raise RuntimeError("broken handler")

    yield from _port(handler, clock)


def test_a_run_waits_until_time_is_advanced_past_its_wait(
    waiting: LocalRunStarter, clock: ManualClock, done: list[str]
) -> None:
    assert waiting.start(REQUEST)
    waiting.settle()
    assert (waiting.status(REQUEST.run_id), done) == ("RUNNING", ["before"])

    clock.advance(timedelta(days=1))
    waiting.settle()
    assert (waiting.status(REQUEST.run_id), done) == ("RUNNING", ["before"])

    clock.advance(timedelta(days=1, minutes=1))
    waiting.settle()
    assert (waiting.status(REQUEST.run_id), done) == ("SUCCEEDED", ["before", "after"])


def test_the_same_run_started_twice_runs_once(waiting: LocalRunStarter, done: list[str]) -> None:
    assert waiting.start(REQUEST)
    assert not waiting.start(REQUEST)
    waiting.settle()
    assert waiting.started == 1
    assert done == ["before"]


def test_a_handler_that_keeps_failing_is_retried_then_the_run_fails(failing: LocalRunStarter, done: list[str]) -> None:
    failing.start(REQUEST)
    failing.settle()
    assert failing.status(REQUEST.run_id) == "FAILED"
    assert len(done) > 1  # invoked again after the first failure, as Lambda retries
