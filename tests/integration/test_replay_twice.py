"""Replay twice: a run is replayed against its recorded operations in another process, with another
hash seed and ``random`` reseeded. A handler that decides its walk outside a step is caught, naming
the run and the first operation that diverged; the real runner's runs replay the same."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_execution

from dealflow.local import MotoStack
from dealflow.local.clock import ManualClock
from dealflow.local.demo import TENANT, demo_deal
from dealflow.local.invoke import LocalRunStarter
from dealflow.local.replay import ReplayDiverged


@durable_execution
def branches_on_random(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """Picks its branch with random.random() between steps: a replay on AWS may pick another."""
    context.step(lambda _: "read the deal", name="check")
    branch = "won" if random.random() < 0.5 else "lost"
    context.step(lambda _: branch, name=f"{branch}-{random.random():.12f}")
    return {}


@durable_execution
def follows_set_order(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """Walks a set of stage ids: its order is the process's hash seed's."""
    for stage in {f"stage-{n}" for n in range(20)}:
        context.step(lambda _, stage=stage: stage, name=stage)
    return {}


@durable_execution
def decides_inside_steps(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    branch = context.step(lambda _: "won" if random.random() < 0.5 else "lost", name="pick")
    for stage in context.step(lambda _: sorted({f"stage-{n}" for n in range(20)}), name="stages"):
        context.step(lambda _, stage=stage: stage, name=f"{branch}-{stage}")
    return {}


@contextmanager
def replaying(handler: str) -> Iterator[LocalRunStarter]:
    port = LocalRunStarter(globals()[handler], ManualClock(), replay_with=f"{__file__}:{handler}")
    try:
        yield port
    finally:
        port.close()


def test_a_branch_picked_with_random_outside_a_step_is_caught() -> None:
    with replaying("branches_on_random") as port:
        port.start_raw("run-coin", json.dumps({}))
        with pytest.raises(ReplayDiverged) as diverged:
            port.settle()
    # The first step replays from its checkpoint; the one named after the pick is the first to differ.
    assert diverged.match(
        r"^run run-coin diverged when replayed with another hash seed and random seed: "
        r"Non-deterministic operation identity at id='\w+': "
        r"name checkpoint='(won|lost)-0\.\d+' current='(won|lost)-0\.\d+'$"
    )


def test_a_walk_in_set_order_is_caught() -> None:
    with replaying("follows_set_order") as port:
        port.start_raw("run-set", json.dumps({}))
        with pytest.raises(ReplayDiverged) as diverged:
            port.settle()
    assert diverged.match(r"^run run-set diverged .*: name checkpoint='stage-\d+' current='stage-\d+'$")


def test_values_decided_inside_steps_replay_the_same() -> None:
    with replaying("decides_inside_steps") as port:
        port.start_raw("run-steps", json.dumps({}))
        port.settle()
        assert port.status("run-steps") == "SUCCEEDED"
        assert port.replays == 1


def test_the_real_runners_runs_replay_the_same_before_and_after_a_delay(stack: MotoStack) -> None:
    assert stack.runs_port.replay_with is not None  # on under pytest (tests/conftest.py)
    stack.create_deal(demo_deal("d-1", "Website", "100.00", "services"))
    stack.move_deal(TENANT, "d-1", "proposal")  # the follow-up waits two days
    stack.drain()
    waiting = stack.runs_port.replays

    stack.advance(days=2)
    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()

    assert waiting >= 1 and stack.runs_port.replays > waiting
    assert {r.status for r in stack.runs(TENANT, "d-1")} <= {"completed", "skipped"}
