"""template.yaml's monitoring, as CloudFormation receives it after the SAM transform: every function
logs to a group with the retention parameter, every alarm of README's "Operate" reaches the alarm
topic, the dashboard shows what the alarms watch, and the runner's async starts are bounded and
never dropped silently."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dealflow.engine.signals import RUNS_FAILED
from dealflow.local.cfn_yaml import load_template
from tests.unit.test_sam_template import TEMPLATE, translate

FUNCTIONS = (
    "DispatcherFunction",
    "RunnerFunction",
    "WebhooksFunction",
    "ApiFunction",
    "RunReconcilerFunction",
    "SchedulerFunction",
)


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return translate(load_template(TEMPLATE))["Resources"]


def _of_type(resources: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources.items() if v["Type"] == type_}


def _dimension(alarm: dict[str, Any]) -> Any:
    dimensions = alarm.get("Dimensions", [])
    return dimensions[0]["Value"] if dimensions else None


def test_every_function_logs_to_a_group_with_the_retention_parameter(resources: dict[str, Any]) -> None:
    groups = _of_type(resources, "AWS::Logs::LogGroup")
    named = {g["LogGroupName"]["Fn::Sub"]: g for g in groups.values()}
    for function in FUNCTIONS:
        group = named[f"/aws/lambda/${{{function}}}"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_each_alarm_of_the_runbook_notifies_the_alarm_topic(resources: dict[str, Any]) -> None:
    alarms = _of_type(resources, "AWS::CloudWatch::Alarm")
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    watched = {(a["Namespace"], a["MetricName"], json.dumps(_dimension(a))) for a in alarms.values()}
    queue = "ApproximateNumberOfMessagesVisible"
    assert ("AWS/SQS", queue, json.dumps({"Fn::GetAtt": ["DispatcherFailureQueue", "QueueName"]})) in watched
    assert ("AWS/SQS", queue, json.dumps({"Fn::GetAtt": ["RunnerStartFailureQueue", "QueueName"]})) in watched
    assert ("AWS/Lambda", "IteratorAge", json.dumps({"Ref": "DispatcherFunction"})) in watched
    for function in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            assert ("AWS/Lambda", metric, json.dumps({"Ref": function})) in watched
    # The total the EMF documents carry (no dimensions), so one alarm sees every kind's failures.
    assert ("Dealflow", RUNS_FAILED, "null") in watched
    for api in ("ManagementApi", "WebhooksApi"):
        assert ("AWS/ApiGateway", "5xx", json.dumps({"Ref": api})) in watched


def test_the_alarm_email_is_subscribed_only_when_given(resources: dict[str, Any]) -> None:
    [subscription] = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    [policy] = _of_type(resources, "AWS::SNS::TopicPolicy").values()
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}


def test_the_dashboard_shows_runs_effects_lag_errors_and_queues(resources: dict[str, Any]) -> None:
    [dashboard] = _of_type(resources, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    metrics = {m[1] for w in widgets for m in w["properties"]["metrics"]}
    assert {"RunsStarted", "RunsCompleted", RUNS_FAILED, "RunsNotStarted", "RunsLoopStopped", "Effects"} <= metrics
    assert {
        "DispatcherLag",
        "IteratorAge",
        "Errors",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
        "5xx",
        "TimerLateness",
    } <= metrics
    for queue in (
        "DispatcherFailureQueue",
        "RunLogDeadLetterQueue",
        "CancellationDeadLetterQueue",
        "TimerDeadLetterQueue",
    ):
        assert f"${{{queue}.QueueName}}" in body
    for function in FUNCTIONS:
        assert f"${{{function}}}" in body


def test_the_runners_async_starts_are_bounded_and_parked_when_given_up(resources: dict[str, Any]) -> None:
    [config] = _of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    assert config["FunctionName"] == {"Ref": "RunnerFunction"} and config["Qualifier"] == "live"
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 6 * 3600
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["RunnerStartFailureQueue", "Arn"]}
    # Lambda sends to the destination with the runner's own role.
    statements = [
        s for p in resources["RunnerFunctionRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
    ]
    sends = [s for s in statements if "sqs:SendMessage" in s["Action"]]
    assert sends and all("RunnerStartFailureQueue" in json.dumps(s["Resource"]) for s in sends)


def test_the_runners_concurrency_is_capped_only_when_asked(resources: dict[str, Any]) -> None:
    runner = resources["RunnerFunction"]["Properties"]
    assert runner["ReservedConcurrentExecutions"] == {
        "Fn::If": ["CapsRunnerConcurrency", {"Ref": "RunnerReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
