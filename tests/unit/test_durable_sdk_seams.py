"""The local runner reaches into the durable testing SDK's private attributes in one adapter. If an
SDK upgrade moves one, building the runner must fail, naming it, rather than run without a check."""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner

from dealflow.local.clock import ManualClock
from dealflow.local.durable_sdk import SdkMoved, SdkSeams


def _handler(event: Any, context: Any) -> dict[str, Any]:
    return {}


def test_every_private_attribute_the_local_runner_relies_on_is_still_there() -> None:
    runner = DurableFunctionTestRunner(handler=_handler)
    try:
        seams = SdkSeams(runner)
        clock = ManualClock()
        seams.drive_with(clock)
        assert runner._clock is clock and runner._executor._clock is clock
        assert runner._checkpoint_processor._clock is clock
    finally:
        runner.close()


@pytest.mark.parametrize("moved", ["_checkpoint_processor", "_executor", "_scheduler", "_invoker"])
def test_an_sdk_that_moved_an_attribute_is_refused_by_name(moved: str) -> None:
    runner = DurableFunctionTestRunner(handler=_handler)
    try:
        kept = getattr(runner, moved)
        delattr(runner, moved)
        with pytest.raises(SdkMoved, match=f"DurableFunctionTestRunner.{moved}"):
            SdkSeams(runner)
        setattr(runner, moved, kept)
    finally:
        runner.close()
