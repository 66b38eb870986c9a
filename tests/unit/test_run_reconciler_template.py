"""The run reconciler in template.yaml: EventBridge hands it exactly the runner's endings the runner
may not have recorded (the sample event among them), and its role can do no more than read the
ended execution and rewrite the run's record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dealflow.local.cfn_yaml import load_template
from tests.unit.test_sam_template import TEMPLATE, translate

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "run-reconciler-timed-out.json"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return translate(load_template(TEMPLATE))["Resources"]


def _rule(resources: dict[str, Any]) -> dict[str, Any]:
    [rule] = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Events::Rule"
        and any(t["Arn"] == {"Fn::GetAtt": ["RunReconcilerFunction", "Arn"]} for t in r["Properties"]["Targets"])
    ]
    return rule["Properties"]


def test_the_rule_takes_the_runners_failed_timed_out_and_stopped_executions_like_the_sample(
    resources: dict[str, Any],
) -> None:
    pattern = _rule(resources)["EventPattern"]
    sample = json.loads(SAMPLE.read_text())

    assert pattern["source"] == [sample["source"]] == ["aws.lambda"]
    assert pattern["detail-type"] == [sample["detail-type"]] == ["Durable Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == ["FAILED", "STOPPED", "TIMED_OUT"]
    assert sample["detail"]["status"] in pattern["detail"]["status"]
    # Only the runner's own versions (functionArn is version-qualified), not every durable function.
    assert pattern["detail"]["functionArn"] == [{"prefix": {"Fn::Sub": "${RunnerFunction.Arn}:"}}]
    assert {"durableExecutionArn", "durableExecutionName", "functionArn", "endTimestamp"} <= set(sample["detail"])


def test_what_the_rule_cannot_deliver_is_kept(resources: dict[str, Any]) -> None:
    [target] = _rule(resources)["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["RunReconcilerDeadLetterQueue", "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    queue = resources["RunReconcilerDeadLetterQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True


def test_the_reconcilers_role_reads_ended_runner_executions_and_works_cancellation_jobs_only(
    resources: dict[str, Any],
) -> None:
    role = resources["RunReconcilerFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    granted = {
        (action, json.dumps(s["Resource"], sort_keys=True))
        for s in statements
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }

    indexes = [
        {"Fn::Sub": "${AutomationTable.Arn}/index/by_deal"},
        {"Fn::Sub": "${AutomationTable.Arn}/index/by_automation"},
    ]
    assert granted == {
        ("lambda:GetDurableExecution", json.dumps({"Fn::Sub": "${RunnerFunction.Arn}:*"})),
        ("dynamodb:GetItem", json.dumps({"Fn::GetAtt": ["AutomationTable", "Arn"]})),
        ("dynamodb:PutItem", json.dumps({"Fn::GetAtt": ["AutomationTable", "Arn"]})),
        # Cancellation jobs: the waiting runs of a deal or an automation, their stops, the job queued again.
        ("dynamodb:Query", json.dumps(indexes, sort_keys=True)),
        ("lambda:StopDurableExecution", json.dumps({"Fn::Sub": "${RunnerFunction.Arn}:*"})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["CancellationQueue", "Arn"]})),
        # A cancelled run that waited for an event leaves the registry of waiters (WAIT# items).
        ("dynamodb:Query", json.dumps({"Fn::GetAtt": ["AutomationTable", "Arn"]})),
        ("dynamodb:DeleteItem", json.dumps({"Fn::GetAtt": ["AutomationTable", "Arn"]})),
    }
    assert "AWSLambdaSQSQueueExecutionRole" in json.dumps(role["ManagedPolicyArns"])  # the queue's poller
    function = resources["RunReconcilerFunction"]["Properties"]
    assert "DEALS_TABLE" not in function["Environment"]["Variables"]


def test_cancellation_jobs_come_one_at_a_time_from_their_queue_and_a_failing_one_is_parked(
    resources: dict[str, Any],
) -> None:
    [mapping] = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": "RunReconcilerFunction"}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["CancellationQueue", "Arn"]}
    assert mapping["BatchSize"] == 1 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["CancellationQueue"]["Properties"]
    # A turn cut off comes back only once it surely ended; one failing again and again is parked.
    assert queue["VisibilityTimeout"] >= 6 * resources["RunReconcilerFunction"]["Properties"]["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["CancellationDeadLetterQueue", "Arn"]}
    assert queue["SqsManagedSseEnabled"] is True
