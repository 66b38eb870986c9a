"""Replay twice: every finished local run is replayed against its recorded operations in another
Python process — another hash seed (set and dict-of-set iteration order), ``random`` reseeded — and
must name the same operations in the same order.

On AWS a run replays from the top after every wait, retry and crash, often in a fresh container;
a value that decides a branch, a loop count, a step's name or a wait but was computed outside a
step (a random pick, the order of a set) can come out differently there, and the service fails the
execution as non-deterministic. Locally a run usually replays in the same process with the same
seeds and never shows it. Here the replay runs in a worker process (``python -m
dealflow.local.replay``) started with its own ``PYTHONHASHSEED`` and an AWS endpoint nobody listens
on: a replay that tried to run a step for real could reach nothing. Any divergence — the SDK's
non-deterministic identity check, or an operation the recorded run did not have — is reported
naming the run and the first diverging operation (``ReplayDiverged``).

On by default under pytest (``tests/conftest.py``) and so in CI; ``DEALFLOW_REPLAY_TWICE=0`` turns it
off, ``=1`` on anywhere else.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import IO, Any

ENV = "DEALFLOW_REPLAY_TWICE"
# Where nothing listens: a step a replay runs for real fails at once instead of reaching AWS.
_NOWHERE = "http://127.0.0.1:9"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the dealflow package


def enabled() -> bool:
    return os.environ.get(ENV, "0").strip().lower() in {"1", "true", "yes", "on"}


class ReplayDiverged(AssertionError):
    """A run replayed with other seeds did not walk the operations it walked the first time."""


def _replay_hash_seed() -> str:
    """A hash seed other than this process's own (random unless PYTHONHASHSEED fixed it)."""
    ours = os.environ.get("PYTHONHASHSEED", "")
    return str((int(ours) + 1) % 4_294_967_296) if ours.isdigit() else "20261201"


class Replayer:
    """The parent's side: one worker process, started on first use, shared by every local runner
    in this process (the worker keeps each handler module it loaded)."""

    _shared: Replayer | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    @classmethod
    def shared(cls) -> Replayer:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _worker(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            env = {
                **os.environ,
                "PYTHONHASHSEED": _replay_hash_seed(),
                "AWS_ENDPOINT_URL": _NOWHERE,
                "PYTHONPATH": os.pathsep.join([str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]),
            }
            self._process = subprocess.Popen(
                [sys.executable, "-m", "dealflow.local.replay"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        return self._process

    def replay(self, handler: str, run_id: str, invocation: dict[str, Any], expected: str) -> None:
        """Replay one run (``invocation``: its recorded operations as the SDK's JSON) with handler
        ``path/to/module.py:name``; raises ``ReplayDiverged`` unless it ends ``expected``
        (SUCCEEDED, or PENDING for a run waiting on a timer) without a new operation."""
        request = {
            "handler": handler,
            "input": invocation,
            "seed": zlib.crc32(run_id.encode()) ^ 0x5EED,
            "env": {k: v for k, v in os.environ.items() if k not in {"PYTHONHASHSEED", "AWS_ENDPOINT_URL"}},
        }
        with self._lock:
            worker = self._worker()
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(json.dumps(request) + "\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
        if not line:
            raise ReplayDiverged(f"run {run_id}: the replay worker died while replaying it")
        answer = json.loads(line)
        problem = answer.get("new") or answer.get("error")
        if answer.get("status") != expected or answer.get("new"):
            raise ReplayDiverged(
                f"run {run_id} diverged when replayed with another hash seed and random seed: "
                f"{problem or 'it ended ' + str(answer.get('status')) + ', not ' + expected}"
            )

    def close(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                assert self._process.stdin is not None
                self._process.stdin.close()
                self._process.wait(timeout=10)
            self._process = None


# ---- the worker's side ----------------------------------------------------------------------------


def _load(spec: str, loaded: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    if spec not in loaded:
        path, _, name = spec.rpartition(":")
        module: ModuleType
        if path.endswith(".py"):
            found = importlib.util.spec_from_file_location(f"dealflow_replayed_{len(loaded)}", path)
            assert found is not None and found.loader is not None
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
        else:
            module = importlib.import_module(path)
        loaded[spec] = getattr(module, name)
    return loaded[spec]


def _replay_one(request: dict[str, Any], loaded: dict[str, Callable[..., Any]]) -> dict[str, Any]:
    from aws_durable_execution_sdk_python.execution import (
        DurableExecutionInvocationInput,
        DurableExecutionInvocationInputWithClient,
    )
    from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context

    os.environ.update(request["env"])
    handler = _load(request["handler"], loaded)
    recorded = DurableExecutionInvocationInput.from_json_dict(request["input"])
    client = _RecordingClient({op.operation_id for op in recorded.initial_execution_state.operations})
    invocation = DurableExecutionInvocationInputWithClient.from_durable_execution_invocation_input(recorded, client)
    random.seed(request["seed"])
    output = handler(invocation, create_test_lambda_context(function_name="RunnerFunction"))
    error = output.get("Error") or {}
    return {
        "status": output.get("Status"),
        "error": error.get("ErrorMessage") if isinstance(error, dict) else str(error),
        "new": client.first_new,
    }


class _RecordingClient:
    """The durable service as a replay sees it: every recorded operation is there; anything new
    is the divergence, refused so the replay stops at the first one."""

    def __init__(self, known: set[str]) -> None:
        self._known = known
        self.first_new: str | None = None

    def checkpoint(
        self, durable_execution_arn: str, checkpoint_token: str, updates: list[Any], client_token: Any
    ) -> Any:
        from aws_durable_execution_sdk_python.exceptions import CheckpointError, DurableApiErrorCategory
        from aws_durable_execution_sdk_python.lambda_service import (
            CheckpointOutput,
            CheckpointUpdatedExecutionState,
        )

        for update in updates:
            if self.first_new is None:
                known = "recorded" if update.operation_id in self._known else "not in the recorded run"
                self.first_new = (
                    f"first diverging operation: {update.operation_type.value} '{update.name or update.operation_id}' "
                    f"({update.action.value}, {known})"
                )
        if updates:
            raise CheckpointError("replay diverged", error_category=DurableApiErrorCategory.EXECUTION)
        return CheckpointOutput(
            checkpoint_token=checkpoint_token,
            new_execution_state=CheckpointUpdatedExecutionState(operations=[], next_marker=None),
        )

    def get_execution_state(self, *args: Any, **kwargs: Any) -> Any:
        from aws_durable_execution_sdk_python.lambda_service import StateOutput

        return StateOutput(operations=[], next_marker=None)


def serve(requests: IO[str], answers: IO[str]) -> None:
    loaded: dict[str, Callable[..., Any]] = {}
    for line in requests:
        try:
            answer = _replay_one(json.loads(line), loaded)
        except Exception as error:  # the replay itself broke: that is a divergence too
            answer = {"status": "ERROR", "error": f"{type(error).__name__}: {error}", "new": None}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    # Handlers log to stdout (powertools): keep the answers on their own descriptor.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with contextlib.suppress(KeyboardInterrupt):
        serve(sys.stdin, answers)
