"""``dealflow redrive`` against the moto stream: the deal changes the dispatcher gave up on are read
back from the stream by shard and sequence number and dispatched again, each run started once.

The command runs in another process, as an operator runs it, against a moto server this test's
harness provisioned (the harness is attached there and runs the runs in-process). The failure
queue's messages are the harness's stream mapping's own, built from real records of the stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dealflow.cli.main import main
from dealflow.cli.smoke import SIMULATOR, scenario
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT as ACME
from dealflow.local.demo import demo_deal, set_up
from dealflow.model import Deal, RunRequest

REPO = Path(__file__).resolve().parents[2]
TENANT = "late"


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with MotoStack(server=True) as local:
        yield local


def redrive(stack: MotoStack, *args: str) -> subprocess.CompletedProcess[str]:
    assert stack.endpoint is not None
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO / "layers" / "shared" / "python")}
    return subprocess.run(
        [sys.executable, "-m", "dealflow.cli", "redrive", "--endpoint", stack.endpoint, *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.stdout.startswith("{"), done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def won_before_its_tenant_existed(stack: MotoStack) -> Deal:
    """A deal created in 'won' while the dispatcher could not read its tenant's automation: the
    record fails, is retried and given up on. Then the cause is fixed: the tenant is there."""
    tenant, pipeline, rule, deal = scenario(TENANT)
    stack.create_deal(deal.model_copy(update={"stage_id": "won"}))
    assert len(stack.drain().given_up) == 1
    stack.put_tenant(tenant)
    stack.put_pipeline(TENANT, pipeline)
    stack.put_rule(TENANT, rule)
    return deal


def queued(stack: MotoStack, visible_only: bool = False) -> int:
    attributes = stack._sqs.get_queue_attributes(
        QueueUrl=stack.resources.queues["DispatcherFailureQueue"], AttributeNames=["All"]
    )["Attributes"]
    visible = int(attributes["ApproximateNumberOfMessages"])
    return visible if visible_only else visible + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def mails(stack: MotoStack) -> list[Any]:
    return [m for m in stack.emails() if m.to == [SIMULATOR]]


def test_a_given_up_change_runs_once_and_a_second_redrive_finds_it_already_done(stack: MotoStack) -> None:
    deal = won_before_its_tenant_existed(stack)
    created = stack.delivered[0]  # delivered four times: first try and 3 retries
    sequence = created["dynamodb"]["SequenceNumber"]

    first = report(redrive(stack, "--keep", "--json"))

    [message] = first["messages"]
    [record] = message["records"]
    assert (record["outcome"], record["tenant_id"], record["deal_id"]) == ("ran", TENANT, deal.id)
    assert record["sequence_number"] == sequence and record["event_name"] == "INSERT"
    [run_id] = record["runs_started"]
    assert message["deleted"] is False and message["lost"] is None  # --keep
    [run] = stack.runs(TENANT, deal.id)
    assert (run.run_id, run.status) == (run_id, "completed")
    assert len(mails(stack)) == 1 and len([n for n in stack.notifications() if n.tenant_id == TENANT]) == 1

    second = redrive(stack, "--json")

    assert second.returncode == 0, second.stderr
    [record] = report(second)["messages"][0]["records"]
    assert (record["outcome"], record["runs_already_done"], record["runs_started"]) == ("already done", [run_id], [])
    assert report(second)["messages"][0]["deleted"] is True
    assert len(mails(stack)) == 1 and len(stack.runs(TENANT, deal.id)) == 1  # nothing ran twice
    assert queued(stack) == 0

    third = redrive(stack)
    assert third.returncode == 0 and "the failure queue is empty" in third.stdout


def test_the_text_report_names_each_record_and_what_became_of_its_message(stack: MotoStack) -> None:
    deal = won_before_its_tenant_existed(stack)

    done = redrive(stack)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ran              {TENANT}/{deal.id} INSERT (event " in done.stdout
    assert "RetryAttemptsExhausted" in done.stdout and "→ deleted from the queue" in done.stdout
    assert "1 record(s) in 1 message(s): 1 ran (1 run(s) started)" in done.stdout


def test_a_dry_run_shows_what_would_start_and_changes_nothing(stack: MotoStack) -> None:
    deal = won_before_its_tenant_existed(stack)

    done = redrive(stack, "--dry-run", "--json")

    assert done.returncode == 0, done.stderr
    [message] = report(done)["messages"]
    [record] = message["records"]
    assert (record["outcome"], record["deal_id"], len(record["runs_started"])) == ("would start", deal.id, 1)
    assert message["deleted"] is False
    assert stack.runs(TENANT, deal.id) == [] and mails(stack) == []
    assert queued(stack, visible_only=True) == 1  # still there, and visible again at once
    text = redrive(stack, "--dry-run")
    assert "would start" in text.stdout and "left in the queue" in text.stdout


def test_records_past_the_stream_s_retention_are_reported_lost_with_their_sequence_numbers(stack: MotoStack) -> None:
    tenant, pipeline, rule, deal = scenario(TENANT)
    stack.put_tenant(tenant)
    stack.put_pipeline(TENANT, pipeline)
    stack.put_rule(TENANT, rule)
    stack.create_deal(deal)  # into 'new': nothing to start
    stack.drain()
    stack.advance(hours=20)
    stack.move_deal(TENANT, deal.id, "won")  # the rule runs
    stack.advance(hours=5)  # the first record is now 25 hours old: trimmed; the second is 5 hours old
    created, moved = stack.delivered  # each delivered once
    stack.give_up([created, moved], condition="RecordAgeExceeded")
    stack.give_up([created])

    done = redrive(stack, "--json")

    assert done.returncode == 1  # something was lost
    partly, wholly = report(done)["messages"]
    assert partly["lost"]["count"] == 1 and "24-hour retention" in partly["lost"]["reason"]
    assert partly["lost"]["found"] == [moved["dynamodb"]["SequenceNumber"]]
    [record] = partly["records"]
    assert record["outcome"] == "already done"  # its run had started when the record was first delivered
    assert wholly["records"] == []
    assert wholly["lost"]["count"] == 1
    assert wholly["lost"]["start_sequence_number"] == created["dynamodb"]["SequenceNumber"]
    assert wholly["lost"]["shard_id"] == wholly["batch"]["shard_id"]
    assert partly["deleted"] and wholly["deleted"]  # nothing more can be done for them
    assert len(mails(stack)) == 1
    text = redrive(stack)
    assert "the failure queue is empty" in text.stdout


def test_malformed_messages_are_reported_and_left_in_the_queue(stack: MotoStack) -> None:
    queue, stream = stack.resources.queues["DispatcherFailureQueue"], stack.resources.streams["DealsTable"]
    other_table = stream.replace("table/DealsTable/", "table/OtherTable/")
    bodies = [
        "not json",
        json.dumps({"requestContext": {"condition": "RetryAttemptsExhausted"}}),
        json.dumps({"DDBStreamBatchInfo": {"streamArn": other_table, "shardId": "s", "startSequenceNumber": "1" * 21,
                                           "endSequenceNumber": "1" * 21}}),
        json.dumps({"DDBStreamBatchInfo": {"streamArn": stream, "shardId": "s", "startSequenceNumber": "9",
                                           "endSequenceNumber": "3"}}),
        json.dumps({"DDBStreamBatchInfo": {"streamArn": stream, "shardId": "s", "startSequenceNumber": "9" * 21,
                                           "endSequenceNumber": "3" * 21}}),
    ]  # fmt: skip
    gone = {"streamArn": stream, "shardId": "shardId-00000001700000000000-gone0000", "startSequenceNumber": "7" * 21,
            "endSequenceNumber": "8" * 21, "batchSize": 2}  # fmt: skip
    for body in [*bodies, json.dumps({"DDBStreamBatchInfo": gone})]:
        stack._sqs.send_message(QueueUrl=queue, MessageBody=body)

    done = redrive(stack, "--json")

    assert done.returncode == 1, done.stderr
    messages = report(done)["messages"]
    malformed = sorted(m["malformed"] for m in messages if m["malformed"])
    assert malformed == sorted(
        [
            "not JSON",
            "no DDBStreamBatchInfo: not an OnFailure record of a DynamoDB stream",
            f"{other_table} is not a stream of the deals table (DealsTable)",
            "sequence numbers 9–3 are not a stream's (21 to 40 digits)",
            f"sequence numbers {'9' * 21}–{'3' * 21} are not a range",
        ]
    )
    [lost] = [m for m in messages if not m["malformed"]]
    assert lost["lost"]["count"] == 2 and "no longer exists" in lost["lost"]["reason"] and lost["deleted"]
    assert queued(stack, visible_only=True) == 5


def test_a_deployed_stack_is_redriven_through_its_outputs(stack: MotoStack, capsys: pytest.CaptureFixture[str]) -> None:
    """With --stack the records are dispatched in this process with the operator's credentials and
    runs are started on the runner's alias; here moto has no runner, so the start is refused: the
    record is reported failed and its message stays for the next redrive."""
    deal = won_before_its_tenant_existed(stack)
    outputs = {
        "DealsTableName": stack.resources.tables["DealsTable"],
        "AutomationTableName": stack.resources.tables["AutomationTable"],
        "NotificationsTopicArn": stack.resources.topics["NotificationsTopic"],
        "WebhookSecretPrefix": "/dealflow/tenants",
        "DispatcherFailureQueueUrl": stack.resources.queues["DispatcherFailureQueue"],
        "RunnerAliasArn": f"arn:aws:lambda:{stack.region}:123456789012:function:dealflow-Runner:live",
    }
    boto3.client("cloudformation").create_stack(
        StackName="dealflow-redrive",
        TemplateBody=json.dumps(
            {
                "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()},
            }
        ),
    )
    where = ["--stack", "dealflow-redrive", "--region", stack.region]

    assert main(["redrive", *where, "--dry-run", "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)["messages"][0]["records"]
    assert (record["outcome"], record["deal_id"]) == ("would start", deal.id)

    assert main(["redrive", *where, "--json"]) == 1
    [message] = json.loads(capsys.readouterr().out)["messages"]
    [record] = message["records"]
    assert record["outcome"] == "failed" and "dealflow-Runner" in record["error"]
    assert message["deleted"] is False and queued(stack) == 1


class ThrottledInvokes:
    """Lambda answering the dispatcher's Invoke of one automation's runs with TooManyRequestsException
    (the account's concurrency exhausted); the others start. Each start is answered on its own
    (``engine.run_starts.start_each``), as ``LambdaRunStarter.start_all`` answers them."""

    def __init__(self, starter: Any, automation_id: str) -> None:
        self._starter, self._automation_id, self.refused = starter, automation_id, 0

    def start(self, request: RunRequest) -> bool:
        if request.automation.id == self._automation_id:
            self.refused += 1
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")
        return bool(self._starter.start(request))

    def stop(self, execution_id: str) -> bool:
        return bool(self._starter.stop(execution_id))


def test_invokes_throttled_past_the_retries_reach_the_queue_and_redrive_starts_only_what_never_started(
    stack: MotoStack,
) -> None:
    set_up(stack)
    stack.create_deal(demo_deal("d-7", "Website redesign", "12500.00", "services"))
    stack.drain()
    real = stack.function_runs._inner
    stack.function_runs._inner = throttled = ThrottledInvokes(real, "won-notify-head")
    try:
        stack.move_deal(ACME, "d-7", "won")  # three runs: a workgroup, a copy to delivery, a notification
        drained = stack.drain()
    finally:
        stack.function_runs._inner = real

    assert len(drained.given_up) == 1 and throttled.refused == 4  # first try and 3 retries
    ran = {r.automation_id for r in stack.runs(ACME, "d-7")}
    assert {"won-services-workgroup", "won-to-delivery"} <= ran and "won-notify-head" not in ran
    assert [n for n in stack.notifications() if n.deal_id == "d-7"] == []  # silence, but for the queue

    done = redrive(stack, "--json")

    assert done.returncode == 0, done.stderr
    [record] = report(done)["messages"][0]["records"]
    assert record["outcome"] == "ran" and len(record["runs_started"]) == 1
    assert len(record["runs_already_done"]) == 2  # started on the first delivery: not again
    [note] = [n for n in stack.notifications() if n.deal_id == "d-7"]
    assert note.users == ["u-head"]
    assert len(stack.workgroups(ACME)) == 1
    deal = stack.get_deal(ACME, "d-7")
    assert deal is not None and len(deal.copy_ids) == 1
