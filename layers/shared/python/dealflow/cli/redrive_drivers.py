"""Who dispatches the records ``dealflow redrive`` reads back.

Either way it is the dispatcher's own per-record path (``Dispatcher.handle``, composed by
``runtime.dispatcher``): the same automation lookup, run names, not-started entries, field–step
marking and cancellations as the deployed function. On a deployed stack it runs here, with the
operator's credentials, starting runs on the runner's alias (``RunnerAliasArn``); Lambda refuses a
durable execution name that already ran, which is how a run started before is told apart. On a moto
server nothing runs Lambdas, so the local harness is attached and runs the runs in-process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, Self

from dealflow import runtime
from dealflow.aws.run_starter import LambdaRunStarter, starts_client_config
from dealflow.cli.target import LOCAL_REGION, Target
from dealflow.engine.dispatcher import Dispatcher
from dealflow.engine.run_starts import Started, start_each
from dealflow.model import RunRequest
from dealflow.ports import RunStarter
from dealflow.store.runs import RunLog

RUNNER_OUTPUT = "RunnerAliasArn"


class Answers:
    """A run starter that remembers, per run, whether it started now or had started before."""

    def __init__(self, starter: RunStarter) -> None:
        self._starter = starter
        self.started: dict[str, Started] = {}

    def start(self, request: RunRequest) -> bool:
        started = self._starter.start(request)
        self.started[request.run_id] = started
        return started

    def start_all(self, requests: Sequence[RunRequest]) -> list[Started]:
        answers = start_each(self._starter, requests)
        self.started.update({r.run_id: ok for r, ok in zip(requests, answers, strict=True)})
        return answers

    def stop(self, execution_id: str) -> bool:
        return self._starter.stop(execution_id)


class Driver(Protocol):
    dispatcher: Dispatcher
    answers: Answers
    run_log: RunLog

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def settle(self) -> None:
        """Let the runs started so far go (locally: run them; on AWS they run by themselves)."""
        ...


class DeployedStack:
    def __init__(self, target: Target) -> None:
        runner = target.output(RUNNER_OUTPUT)
        self.answers = Answers(LambdaRunStarter(target.session.client("lambda", config=starts_client_config()), runner))
        self.dispatcher = runtime.dispatcher(self.answers, on=target.tables)
        self.run_log = target.run_log

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def settle(self) -> None:
        return None


class LocalHarness:
    def __init__(self, target: Target, region: str | None) -> None:
        from dealflow.local import MotoStack  # moto and the durable testing SDK: development only

        assert target.endpoint is not None
        self._stack = MotoStack(endpoint=target.endpoint, attach=True, region=region or LOCAL_REGION)

    def __enter__(self) -> Self:
        from dealflow.local.names import RunLogNames

        stack = self._stack.start()
        self.run_log = stack.run_log
        self.answers = Answers(RunLogNames(stack.function_runs, stack.run_log))
        self.dispatcher = runtime.dispatcher(self.answers)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def settle(self) -> None:
        self._stack.drain()
