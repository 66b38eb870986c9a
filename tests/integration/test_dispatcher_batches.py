"""A Lambda batch through the real dispatcher handler on moto: the run-log entries of what did not
start are written together (BatchWriteItem) and still read back through the run-log API; what
DynamoDB leaves unprocessed is sent again; the runs of every record of the batch are started
together, each once, and one start that fails fails its own record only."""

from __future__ import annotations

import base64
import json
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from dealflow import runtime
from dealflow.aws.run_starter import LambdaRunStarter, starts_client_config
from dealflow.engine.run_requests import run_id_for
from dealflow.limits import MAX_BATCH_WRITE_ITEMS
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.store import batches

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
NEVER = {"field": "amount", "op": "gte", "value": 10_000_000}  # no demo deal is that big


def _rules(stack: MotoStack, count: int, condition: dict[str, Any] | None) -> list[str]:
    ids = [f"batch-{n}" for n in range(count)]
    for rule_id in ids:
        rule = {
            "kind": "rule",
            "id": rule_id,
            "name": f"Batch rule {rule_id}",
            "pipeline_id": "sales",
            "stage_id": "negotiation",
            "condition": condition,
            "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}],
        }
        assert stack.api("PUT", f"/automation/{rule_id}", rule, claims=ADMIN)[0] == 201
    return ids


def _moved_to_negotiation(stack: MotoStack, deals: int) -> list[str]:
    """Deals created (and dispatched), then moved: the moves wait in the stream as one batch."""
    ids = [f"d-{n}" for n in range(deals)]
    for deal_id in ids:
        stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", "7300.00", "services"))
    stack.drain()
    for deal_id in ids:
        stack.move_deal(TENANT, deal_id, "negotiation")
    return ids


class Calls:
    """The run-log writes of the given clients: the items of each BatchWriteItem, and each PutItem
    of a run's record (``RUN#`` items)."""

    def __init__(self, *clients: Any) -> None:
        self.batch_sizes: list[int] = []
        self.history_sizes: list[int] = []  # the items of deal changes kept for what-if, in calls of their own
        self.history_changes: list[int] = []  # the changes each of those items holds
        self.run_puts = 0
        for client in clients:
            client.meta.events.register("before-call.dynamodb", self._seen)

    def _seen(self, model: Any, params: Any, **_: Any) -> None:
        body = json.loads(params["body"])
        if model.name == "BatchWriteItem":
            items = [r["PutRequest"]["Item"] for v in body["RequestItems"].values() for r in v]
            kept = sum(item["sk"]["S"].startswith("CHANGE#") for item in items)
            (self.history_sizes if kept else self.batch_sizes).append(len(items))
            self.history_changes += [
                len(json.loads(zlib.decompress(base64.b64decode(item["changes"]["B"]))))
                for item in items
                if item["sk"]["S"].startswith("CHANGE#")
            ]
        elif model.name == "PutItem" and body["Item"].get("sk", {}).get("S", "").startswith("RUN#"):
            self.run_puts += 1


def test_not_started_entries_of_a_batch_are_written_together_and_read_back_through_the_api(stack: MotoStack) -> None:
    rules = _rules(stack, 3, NEVER)
    deals = _moved_to_negotiation(stack, 12)
    calls = Calls(runtime.batch_writes(), runtime.tables().automation.meta.client)  # type: ignore[attr-defined]

    report = stack.drain()

    entries = len(rules) * len(deals)  # the local stack keeps every entry (NOT_STARTED_SAMPLE_RATE=1.0)
    assert report.records == len(deals) and stack.batch_responses[-1] == {"batchItemFailures": []}
    assert calls.batch_sizes == [MAX_BATCH_WRITE_ITEMS] * (entries // MAX_BATCH_WRITE_ITEMS) + [
        entries % MAX_BATCH_WRITE_ITEMS
    ]
    assert calls.run_puts == 0  # none written one by one
    # Each move kept for what-if: the tenant's changes of the batch one item, in one call at its end.
    assert (calls.history_sizes, calls.history_changes) == ([1], [len(deals)])
    for deal_id in deals:
        status, body = stack.api("GET", f"/deals/{deal_id}/runs", claims=ADMIN)
        assert status == 200
        shown = {r["automation_id"]: r for r in body["items"] if r["automation_id"] in rules}
        assert {a: r["status"] for a, r in shown.items()} == dict.fromkeys(rules, "not_started")
        [step] = shown[rules[0]]["steps"]
        assert step["outcome"] == "not met"
        assert [c["actual"] for c in step["detail"]["conditions"]] == ["7300.00"]


class Unprocessed:
    """DynamoDB answering the first ``times`` BatchWriteItem calls with every item unprocessed
    (nothing written), as it does under throttling; later calls reach moto."""

    def __init__(self, client: Any, times: int) -> None:
        self.left = times
        client.meta.events.register("before-call.dynamodb.BatchWriteItem", self._answer)

    def _answer(self, params: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self.left == 0:
            return None
        self.left -= 1
        unprocessed = json.loads(params["body"])["RequestItems"]
        return AWSResponse(None, 200, {}, None), {"UnprocessedItems": unprocessed, "ResponseMetadata": {}}


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    taken: list[float] = []
    monkeypatch.setattr(batches, "pause", taken.append)
    return taken


def test_unprocessed_entries_are_sent_again_after_growing_pauses_until_written(
    stack: MotoStack, pauses: list[float]
) -> None:
    rules = _rules(stack, 2, NEVER)
    deals = _moved_to_negotiation(stack, 3)
    Unprocessed(runtime.batch_writes(), times=3)

    stack.drain()

    assert stack.batch_responses[-1] == {"batchItemFailures": []}
    assert len(pauses) == 3 and pauses[0] < pauses[2]  # doubling, whatever the jitter
    for deal_id in deals:
        kept = {r.automation_id: r.status for r in stack.runs(TENANT, deal_id) if r.automation_id in rules}
        assert kept == dict.fromkeys(rules, "not_started")


def test_entries_never_processed_fail_their_records_which_write_them_when_delivered_again(
    stack: MotoStack, pauses: list[float]
) -> None:
    rules = _rules(stack, 1, NEVER)
    deals = _moved_to_negotiation(stack, 2)
    refusing = Unprocessed(runtime.batch_writes(), times=batches.ATTEMPTS)

    report = stack.drain()

    # Both records failed once (every send came back unprocessed), then passed when delivered again.
    assert refusing.left == 0 and len(report.failed_records) == len(deals)
    assert len(pauses) == batches.ATTEMPTS - 1
    for deal_id in deals:
        assert [r.status for r in stack.runs(TENANT, deal_id) if r.automation_id in rules] == ["not_started"]


class Lambda:
    """Invoke answered as Lambda answers a durable start, after botocore serialised the request:
    202 for a new execution name, DurableExecutionAlreadyStartedException for one already started,
    TooManyRequestsException for a name in ``failing``. ``meet`` invokes must be in flight at once
    before any is answered (a barrier: starts made one after another never get there)."""

    def __init__(self, meet: int, failing: set[str]) -> None:
        self.client = boto3.client("lambda", config=starts_client_config(meet))
        self.failing = failing
        self.started: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._barrier: threading.Barrier | None = threading.Barrier(meet, timeout=30)
        self.client.meta.events.register("before-call.lambda.Invoke", self._answer)

    def _answer(self, params: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        name = params["headers"]["X-Amz-Durable-Execution-Name"]
        if self._barrier is not None:
            self._barrier.wait()
        with self._lock:
            if name in self.failing:
                self.refused.append(name)
                return _error(429, "TooManyRequestsException")
            if name in self.started:
                return _error(409, "DurableExecutionAlreadyStartedException")
            self.started.append(name)
        return AWSResponse(None, 202, {}, None), {"StatusCode": 202, "ResponseMetadata": {"HTTPStatusCode": 202}}

    def without_barrier(self) -> None:
        self._barrier = None


def _error(status: int, code: str) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return AWSResponse(None, status, {}, None), parsed


@pytest.fixture
def invokes(stack: MotoStack) -> Iterator[Any]:
    """The dispatcher handler with the production run starter over ``Lambda``'s answers."""
    made: list[Lambda] = []

    def use(meet: int, failing: set[str] = frozenset()) -> Lambda:  # type: ignore[assignment]
        answered = Lambda(meet, set(failing))
        runner = stack.iam.environment("DispatcherFunction", "RUNNER_FUNCTION")
        starter = LambdaRunStarter(answered.client, runner, concurrency=meet)
        setattr(stack._dispatcher_app, "DISPATCHER", runtime.dispatcher(starter))  # noqa: B010
        made.append(answered)
        return answered

    yield use


def test_a_batch_s_runs_start_together_across_its_records_each_once_and_a_failed_start_fails_only_its_record(
    stack: MotoStack, invokes: Any
) -> None:
    [rule] = _rules(stack, 1, None)
    deals = _moved_to_negotiation(stack, 6)
    with stack.iam.running(stack._stream_reader):
        records = stack._pump.poll()
    assert len(records) == len(deals)
    runs = [run_id_for(r["eventID"], rule) for r in records]
    lam = invokes(meet=len(records), failing={runs[2]})  # one run per record: all six in flight together

    response = stack.deliver(records)

    assert response == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    assert sorted(lam.started) == sorted(runs[:2] + runs[3:]) and lam.refused == [runs[2]]

    lam.failing.clear()
    lam.without_barrier()
    again = stack.deliver(records)  # the mapping delivers the batch again, from the failed record on

    assert again == {"batchItemFailures": []}
    assert sorted(lam.started) == sorted(runs)  # every run started, none twice
