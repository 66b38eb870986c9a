"""The AWS run starter issues a batch's invokes together, at most its concurrency at once, and answers
for each run: started, its name already taken (not a failure), or the error of that start alone."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from dealflow.aws.run_starter import START_CONCURRENCY, LambdaRunStarter, starts_client_config
from dealflow.engine.changes import diff
from dealflow.engine.dispatch import plan_runs
from dealflow.model import RunRequest
from tests.unit.test_dispatch import automation, deal, rule


class FakeLambda:
    """Counts invokes in flight; ``meet`` makes each invoke wait until that many are in flight
    together (a starter that invokes one at a time never gets there and the barrier breaks)."""

    def __init__(self, meet: int = 1, fail: set[str] | None = None, taken: set[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(meet, timeout=30) if meet > 1 else None
        self.in_flight = self.peak = 0
        self.names: list[str] = []
        self.fail, self.taken = fail or set(), taken or set()

    def invoke(self, **params: Any) -> dict[str, Any]:
        name = params["DurableExecutionName"]
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.names.append(name)
        try:
            if self._barrier is not None:
                self._barrier.wait()
            for code, names in (
                ("TooManyRequestsException", self.fail),
                ("DurableExecutionAlreadyStartedException", self.taken),
            ):
                if name in names:
                    raise ClientError({"Error": {"Code": code, "Message": "x"}}, "Invoke")
            return {"StatusCode": 202}
        finally:
            with self._lock:
                self.in_flight -= 1


def requests(n: int) -> list[RunRequest]:
    """The runs one deal's entry into a stage with ``n`` rules calls for."""
    rules = [rule(f"r-{i:03}") for i in range(n)]
    return plan_runs(diff(deal("offer"), deal("won")), automation(*rules), "evt-1").runs


def test_a_change_s_runs_start_together_never_more_than_the_bound_at_once() -> None:
    client = FakeLambda(meet=START_CONCURRENCY)
    runs = requests(START_CONCURRENCY * 2)
    assert LambdaRunStarter(client, "runner").start_all(runs) == [True] * len(runs)
    assert client.peak == START_CONCURRENCY
    assert sorted(client.names) == sorted(r.run_id for r in runs)


def test_answers_come_back_in_the_requests_order_and_a_taken_name_is_not_started() -> None:
    runs = requests(8)
    client = FakeLambda(taken={runs[2].run_id, runs[5].run_id})
    started = LambdaRunStarter(client, "runner").start_all(runs)
    assert started == [i not in (2, 5) for i in range(8)]


def test_a_failed_start_is_answered_for_its_own_run_and_every_other_start_is_made() -> None:
    runs = requests(10)
    client = FakeLambda(fail={runs[3].run_id})

    answers = LambdaRunStarter(client, "runner").start_all(runs)

    assert len(client.names) == 10
    assert [a for i, a in enumerate(answers) if i != 3] == [True] * 9
    assert isinstance(answers[3], ClientError) and "TooManyRequestsException" in str(answers[3])


def test_the_bound_is_the_starter_s_own() -> None:
    client = FakeLambda(meet=4)
    runs = requests(12)
    assert LambdaRunStarter(client, "runner", concurrency=4).start_all(runs) == [True] * 12
    assert client.peak == 4


def test_the_starts_client_skips_botocore_s_parameter_validation_and_pools_a_connection_per_start() -> None:
    config = starts_client_config(24)
    assert config.parameter_validation is False and config.max_pool_connections == 24
