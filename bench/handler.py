"""The whole dispatcher handler on in-process moto: CPU per stream record and peak memory.

``functions/dispatcher/app.py``'s handler, loaded by the local harness (``MotoStack``) exactly as
it loads it for the tests, gets batches of 100 records (the stream mapping's BatchSize) in
Lambda's DynamoDB-stream event shape (``bench/workload.py``), for two tenants of ``--rules``
stage rules each:

- no run starts: every rule has a condition and none holds (the workload's ``never`` conditions),
  so each record costs parsing, diffing, the conditions and the sampled "not started" run-log
  entries (NOT_STARTED_SAMPLE_RATE as template.yaml sets it);
- with run starts: the workload's mixed conditions; each batch's runs are started together through
  the production adapter, ``dealflow.aws.run_starter.LambdaRunStarter`` (RUN_START_CONCURRENCY
  invokes in flight, as template.yaml sets it), on a Lambda client configured as the dispatcher's
  (``starts_client_config``: no parameter validation) whose Invoke is answered the way botocore's
  Stubber answers: after botocore has serialised the request, before signing and sending it. Every
  answer is counted, and on the first pass the count must equal the runs the floor of
  ``bench/peers.py`` fires for the same records.

Before timing, one batch per tenant is delivered untimed: the tenant's automation is read and
compiled then, and cached per container as on Lambda. Each timed pass delivers every batch of a
tenant; the two alternate for ``--repeat`` rounds; CPU time (``time.process_time``), best pass.
moto answers AWS calls inside this process, so their CPU is counted apart: "own" is the handler's
share, what a Lambda would pay (the SDK's validation, serialisation, signing and parsing stay in
it); "dispatching" leaves out the AWS calls altogether. Peak RSS is
measured over one batch (the peak is reset before it, Linux) for the whole process, moto's
tables and the harness included; the Python allocations of one batch (tracemalloc) are measured
in another, untimed delivery.

Run from the repository root:  python bench/handler.py [--rules N] [--batches N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from botocore.awsrequest import AWSResponse

from bench.measure import cpu_time, function_environment, peak_rss_mb, reset_peak_rss, rss_mb, stream_batch_size
from bench.peers import IndexedPeer, to_closure
from bench.workload import Workload, build
from dealflow import runtime
from dealflow.aws.run_starter import LambdaRunStarter, starts_client_config
from dealflow.local.stack import MotoStack
from dealflow.store.automation import _definition_sk
from dealflow.store.items import to_item

BATCH = stream_batch_size()


class AnsweredInvokes:
    """Answers every lambda Invoke of one client as botocore's Stubber does (an event handler on
    ``before-call``, after validation and serialisation), without Stubber's queue, and counts."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        self._lock = threading.Lock()  # invokes come from the starter's threads
        client.meta.events.register("before-call.lambda.Invoke", self._answer)

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        with self._lock:
            self.count += 1
        return AWSResponse(None, 202, {}, None), {"StatusCode": 202, "ResponseMetadata": {"HTTPStatusCode": 202}}


class AwsMeter:
    """CPU spent in this process's AWS calls: whole calls through a botocore client (validation,
    serialisation, signing, parsing: the SDK's side, which a Lambda pays too), and inside them,
    moto answering (AWS's side, which it does not). Each call is timed on its own thread's CPU clock:
    run starts are made from several threads at once."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.call_seconds = 0.0
        self.moto_seconds = 0.0
        self.moto_calls = 0

    @contextmanager
    def installed(self) -> Iterator[AwsMeter]:
        from botocore.client import BaseClient
        from moto.core.botocore_stubber import BotocoreStubber

        api_call, answer = BaseClient._make_api_call, BotocoreStubber.process_request

        def timed_call(client: BaseClient, operation: str, params: Any) -> Any:
            start = time.thread_time()
            try:
                return api_call(client, operation, params)
            finally:
                self.call_seconds += time.thread_time() - start

        def timed_answer(stubber: BotocoreStubber, request: Any) -> Any:
            start = time.thread_time()
            try:
                return answer(stubber, request)
            finally:
                self.moto_seconds += time.thread_time() - start
                self.moto_calls += 1

        with (
            patch.object(BaseClient, "_make_api_call", timed_call),
            patch.object(BotocoreStubber, "process_request", timed_answer),
        ):
            yield self


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Pass:
    seconds: float
    call_seconds: float
    moto_seconds: float
    moto_calls: int
    runs_started: int

    @property
    def own(self) -> float:
        """What a Lambda would pay: all but moto's side of the calls."""
        return self.seconds - self.moto_seconds

    @property
    def dispatching(self) -> float:
        """The handler without its AWS calls: parsing, planning, run requests, log entries."""
        return self.seconds - self.call_seconds


@dataclass
class Scenario:
    name: str
    workload: Workload
    expected_runs: int
    passes: list[Pass]
    first_batch_traced_mb: float = 0.0
    peak_rss_mb: float = 0.0
    rss_before_mb: float = 0.0
    traced_peak_mb: float = 0.0


def _seed(stack: MotoStack, workload: Workload) -> None:
    """The tenant and its definitions in AutomationTable, as the automation store keeps them.
    Written in plain batches: moto copies the whole table for every transaction, which makes the
    store's own transactional writes take minutes for thousands of definitions."""
    with runtime.tables().automation.batch_writer() as batch:  # type: ignore[attr-defined]
        for kind in workload.definitions().values():
            for definition in kind:
                batch.put_item(Item=to_item(definition, tenant_id=workload.tenant.id, sk=_definition_sk(definition)))
    # As after the definitions' own writes: the version moved past 0, so it is compiled afresh.
    stack.put_tenant(workload.tenant.model_copy(update={"automation_version": 1}))


def _deliver(stack: MotoStack, batches: Sequence[dict[str, Any]]) -> None:
    for batch in batches:
        response = stack.deliver(batch["Records"])
        if response.get("batchItemFailures"):
            raise RuntimeError(f"the dispatcher failed records: {response['batchItemFailures'][:3]}")


def _traced_peak_mb(body: Callable[[], object]) -> float:
    """The peak of what Python allocated during one call, in MB."""
    tracemalloc.start()
    try:
        body()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure(rules: int, batches: int, batch_size: int, repeat: int, seed: int) -> list[Scenario]:
    with MotoStack() as stack:
        arn = stack.resources.streams["DealsTable"]
        records = batches * batch_size
        scenarios = [
            Scenario(
                "no run starts (no condition holds)",
                build(records, rules, seed=seed, conditions="never", tenant_id="bench-quiet", stream_arn=arn),
                0,
                [],
            ),
            Scenario(
                "with run starts",
                build(records, rules, seed=seed, conditions="mixed", tenant_id="bench-busy", stream_arn=arn),
                0,
                [],
            ),
        ]
        for scenario in scenarios:
            _seed(stack, scenario.workload)
            floor = IndexedPeer(scenario.workload.rules, to_closure)
            scenario.expected_runs = len(floor.run(scenario.workload.records))
        deployed = function_environment("DispatcherFunction")
        concurrency = int(deployed["RUN_START_CONCURRENCY"])
        lambda_client = boto3.client("lambda", config=starts_client_config(concurrency))
        invokes = AnsweredInvokes(lambda_client)
        with environment({"NOT_STARTED_SAMPLE_RATE": deployed["NOT_STARTED_SAMPLE_RATE"]}):
            runtime.settings.cache_clear()  # the harness read its own settings (every entry kept) at start
            # The harness's own starter runs every run in-process; this one only starts them, through
            # the runner's alias as deployed (the dispatcher's role may invoke only that).
            runner = stack.iam.environment("DispatcherFunction", "RUNNER_FUNCTION")
            starter = LambdaRunStarter(lambda_client, runner, concurrency=concurrency)
            setattr(stack._dispatcher_app, "DISPATCHER", runtime.dispatcher(starter))  # noqa: B010
        runtime.settings.cache_clear()
        for scenario in scenarios:  # the first batch reads and compiles the tenant's automation
            first = scenario.workload.batches(batch_size)[:1]
            scenario.first_batch_traced_mb = _traced_peak_mb(partial(_deliver, stack, first))
        meter = AwsMeter()
        with meter.installed():
            for _ in range(repeat):
                for scenario in scenarios:
                    invokes.count = 0
                    meter.reset()
                    seconds, _ = cpu_time(partial(_deliver, stack, scenario.workload.batches(batch_size)))
                    scenario.passes.append(
                        Pass(seconds, meter.call_seconds, meter.moto_seconds, meter.moto_calls, invokes.count)
                    )
        for scenario in scenarios:
            if scenario.passes[0].runs_started != scenario.expected_runs:
                raise AssertionError(
                    f"{scenario.name}: the handler started {scenario.passes[0].runs_started} runs, "
                    f"the floor fires {scenario.expected_runs}"
                )
            one = scenario.workload.batches(batch_size)[-1:]
            scenario.rss_before_mb = rss_mb()
            reset_peak_rss()
            _deliver(stack, one)
            scenario.peak_rss_mb = peak_rss_mb()
            scenario.traced_peak_mb = _traced_peak_mb(partial(_deliver, stack, one))
    return scenarios


def main(argv: Sequence[str] | None = None) -> list[Scenario]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1_000, help="stage rules per tenant (default 1000)")
    parser.add_argument("--batches", type=int, default=10, help="batches per pass (default 10)")
    parser.add_argument(
        "--batch-size", type=int, default=BATCH, help=f"records a batch (default {BATCH}: the mapping's BatchSize)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per scenario, best counts (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if min(args.rules, args.batches, args.batch_size, args.repeat) < 1:
        parser.error("--rules, --batches, --batch-size and --repeat must be at least 1")
    scenarios = measure(args.rules, args.batches, args.batch_size, args.repeat, args.seed)

    records = args.batches * args.batch_size
    mix = scenarios[0].workload.mix()
    print(
        f"dispatcher handler (functions/dispatcher/app.py via MotoStack, in-process moto): {args.rules} stage rules"
        f" per tenant over 20 pipelines x 10 stages; {args.batches} batches of {args.batch_size} records a pass = "
        + " + ".join(f"{n} {kind}" for kind, n in mix.items())
    )
    print(
        f"CPU per record, best of {args.repeat} passes: total; own = without moto's side of the AWS calls"
        " (what a Lambda pays); dispatching = without the AWS calls at all:"
    )
    for s in scenarios:
        total, own, dispatching = (
            min(getattr(p, part) for p in s.passes) / records * 1e6 for part in ("seconds", "own", "dispatching")
        )
        first = s.passes[0]
        print(
            f"  {s.name:<36} {total:>7.1f} us total {own:>7.1f} us own {dispatching:>7.1f} us dispatching;"
            f" a batch: {first.runs_started / args.batches:.1f} runs started (Invoke),"
            f" {first.moto_calls / args.batches:.1f} DynamoDB calls"
        )
    print("memory (the whole process holds moto's tables and the harness too):")
    for s in scenarios:
        print(
            f"  {s.name:<36} peak RSS over a {args.batch_size}-record batch {s.peak_rss_mb:.1f} MB"
            f" ({s.peak_rss_mb - s.rss_before_mb:+.1f} MB on the {s.rss_before_mb:.1f} MB before it);"
            f" Python allocations peak: a batch {s.traced_peak_mb:.1f} MB,"
            f" the first batch (reads and compiles the tenant) {s.first_batch_traced_mb:.1f} MB"
        )
    return scenarios


if __name__ == "__main__":
    main()
