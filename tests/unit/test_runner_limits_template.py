"""template.yaml gives the runner what the save-time budgets assume: the execution timeout of
``dealflow.limits``, and old runner and layer versions kept for the runs still waiting on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dealflow.limits import MAX_TOTAL_WAIT_SECONDS, MAX_WAIT_SECONDS, RUNNER_EXECUTION_TIMEOUT_SECONDS
from dealflow.local import sam

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return sam.translated_file(TEMPLATE, {"SenderEmail": "sales@example.com"}, "eu-central-1")


def _of_type(translated: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in translated["Resources"].items() if r["Type"] == kind}


def test_the_runner_may_run_as_long_as_the_budgets_let_a_run_wait(translated: dict[str, Any]) -> None:
    timeout = translated["Resources"]["RunnerFunction"]["Properties"]["DurableConfig"]["ExecutionTimeout"]
    assert timeout == RUNNER_EXECUTION_TIMEOUT_SECONDS
    assert timeout > MAX_TOTAL_WAIT_SECONDS and timeout >= MAX_WAIT_SECONDS


def test_runner_versions_and_layer_versions_outlive_a_deploy(translated: dict[str, Any]) -> None:
    # A durable execution replays on the version it started on: deleting that version (or the layer
    # version it uses) on the next deploy would break every run still waiting.
    [version] = _of_type(translated, "AWS::Lambda::Version").values()
    assert version["Properties"]["FunctionName"] == {"Ref": "RunnerFunction"}
    assert version["DeletionPolicy"] == "Retain"
    [alias] = _of_type(translated, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["FunctionVersion"] == {
        "Fn::GetAtt": [next(iter(_of_type(translated, "AWS::Lambda::Version"))), "Version"]
    }
    assert [layer["DeletionPolicy"] for layer in _of_type(translated, "AWS::Lambda::LayerVersion").values()] == [
        "Retain"
    ]
