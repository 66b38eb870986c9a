"""The IAM contract's two halves on their own: which actions and ARNs a call needs, and whether a
role's statements allow them (wildcards as IAM reads them, an explicit Deny winning)."""

from __future__ import annotations

import pytest

from dealflow.local.iam_actions import Need, needs
from dealflow.local.iam_names import LocalAws
from dealflow.local.iam_policy import Grant, Role

LOCAL = LocalAws(region="eu-west-1")
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/DealsTable"
RUNNER = "arn:aws:lambda:eu-west-1:123456789012:function:RunnerFunction"


def _role(*grants: tuple[str, str] | tuple[str, str, str]) -> Role:
    made = []
    for grant in grants:
        effect = grant[2] if len(grant) == 3 else "Allow"
        made.append(Grant("F", effect, grant[0], grant[1], "test"))
    return Role("F", "FRole", tuple(made))


def test_a_transaction_needs_each_items_own_action_on_each_items_table() -> None:
    items = [
        {"Put": {"TableName": "DealsTable", "Item": {}}},
        {"Update": {"TableName": "AutomationTable", "Key": {}}},
        {"ConditionCheck": {"TableName": "AutomationTable", "Key": {}}},
        {"Delete": {"TableName": "DealsTable", "Key": {}}},
    ]
    assert needs("dynamodb", "TransactWriteItems", {"TransactItems": items}, LOCAL) == [
        Need("dynamodb:PutItem", TABLE),
        Need("dynamodb:UpdateItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/AutomationTable"),
        Need("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/AutomationTable"),
        Need("dynamodb:DeleteItem", TABLE),
    ]


def test_a_query_of_an_index_needs_the_index_and_the_table_grant_does_not_cover_it() -> None:
    [need] = needs("dynamodb", "Query", {"TableName": "DealsTable", "IndexName": "by_deal"}, LOCAL)
    assert need == Need("dynamodb:Query", f"{TABLE}/index/by_deal")
    assert not _role(("dynamodb:Query", TABLE)).decide(need.action, need.resource).allowed
    assert _role(("dynamodb:Query", f"{TABLE}/index/*")).decide(need.action, need.resource).allowed
    assert not _role(("dynamodb:Query", f"{TABLE}/index/*")).decide("dynamodb:Query", TABLE).allowed


def test_invoking_through_an_alias_needs_the_alias_arn() -> None:
    by_arn = needs("lambda", "Invoke", {"FunctionName": f"{RUNNER}:live"}, LOCAL)
    by_qualifier = needs("lambda", "Invoke", {"FunctionName": "RunnerFunction", "Qualifier": "live"}, LOCAL)
    assert by_arn == by_qualifier == [Need("lambda:InvokeFunction", f"{RUNNER}:live")]
    role = _role(("lambda:InvokeFunction", f"{RUNNER}:live"))
    assert role.decide("lambda:InvokeFunction", f"{RUNNER}:live").allowed
    assert not role.decide("lambda:InvokeFunction", RUNNER).allowed  # unqualified is another resource


def test_a_trailing_star_runs_past_colons_but_not_into_another_function() -> None:
    role = _role(("lambda:StopDurableExecution", f"{RUNNER}:*"))
    execution = LOCAL.durable_execution_arn("RunnerFunction", "e-1")
    assert execution == f"{RUNNER}:1/durable-execution/e-1/e-1"
    assert role.decide("lambda:StopDurableExecution", execution).allowed
    assert not role.decide("lambda:StopDurableExecution", RUNNER).allowed
    assert not role.decide("lambda:StopDurableExecution", f"{RUNNER}Two:1/durable-execution/e/e").allowed


def test_a_star_inside_a_segment_does_not_cross_a_colon() -> None:
    role = _role(("dynamodb:GetRecords", "arn:aws:dynamodb:*:123456789012:table/*/stream/*"))
    assert role.decide("dynamodb:GetRecords", f"{TABLE}/stream/2026-01-01T00:00:00.000").allowed
    assert not role.decide("dynamodb:GetRecords", "arn:aws:dynamodb:eu-west-1:999999999999:table/X/stream/s").allowed
    assert not role.decide("dynamodb:GetRecords", "arn:aws:dynamodb:eu-west-1:123456789012:table/X:Y/stream/s").allowed


def test_actions_match_case_insensitively_with_wildcards() -> None:
    queue = "arn:aws:sqs:eu-west-1:123456789012:DispatcherFailureQueue"
    role = _role(("sqs:SendMessage*", queue), ("DynamoDB:get*", TABLE))
    assert role.decide("sqs:SendMessage", queue).allowed
    assert role.decide("dynamodb:GetItem", TABLE).allowed
    assert not role.decide("dynamodb:PutItem", TABLE).allowed


def test_an_explicit_deny_wins_and_a_conditional_allow_grants_nothing() -> None:
    role = _role(("dynamodb:*", "*"), ("dynamodb:DeleteItem", TABLE, "Deny"))
    assert role.decide("dynamodb:PutItem", TABLE).allowed
    decision = role.decide("dynamodb:DeleteItem", TABLE)
    assert not decision.allowed and decision.by[0].effect == "Deny"
    conditional = Role("F", "FRole", (Grant("F", "Allow", "dynamodb:GetItem", TABLE, "test", conditional=True),))
    assert not conditional.decide("dynamodb:GetItem", TABLE).allowed


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "sesv2",
            "SendEmail",
            {"FromEmailAddress": "Dealflow <automation@dealflow.example>"},
            [Need("ses:SendEmail", "arn:aws:ses:eu-west-1:123456789012:identity/automation@dealflow.example")],
        ),
        (
            "sesv2",
            "SendEmail",
            {"FromEmailAddress": "automation@dealflow.example", "Content": {"Raw": {"Data": b"..."}}},
            [Need("ses:SendRawEmail", "arn:aws:ses:eu-west-1:123456789012:identity/automation@dealflow.example")],
        ),
        (
            "ssm",
            "GetParameter",
            {"Name": "/dealflow/tenants/acme/webhook-secret", "WithDecryption": True},
            [
                Need(
                    "ssm:GetParameter",
                    "arn:aws:ssm:eu-west-1:123456789012:parameter/dealflow/tenants/acme/webhook-secret",
                )
            ],
        ),
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/DispatcherFailureQueue"},
            [Need("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:DispatcherFailureQueue")],
        ),
        (
            "dynamodbstreams",
            "DescribeStream",
            {"StreamArn": f"{TABLE}/stream/s"},
            [Need("dynamodb:DescribeStream", f"{TABLE}/stream/s")],
        ),
        ("sts", "GetCallerIdentity", {}, []),
        ("cloudwatch", "PutMetricData", {"Namespace": "x"}, [Need("cloudwatch:PutMetricData", "*")]),
    ],
)
def test_calls_map_to_the_action_and_resource_iam_checks(
    service: str, operation: str, params: dict[str, object], expected: list[Need]
) -> None:
    assert needs(service, operation, params, LOCAL) == expected


def test_records_read_by_iterator_are_authorised_on_the_iterators_stream() -> None:
    streams = {"it-1": f"{TABLE}/stream/s"}
    assert needs("dynamodbstreams", "GetRecords", {"ShardIterator": "it-1"}, LOCAL, streams.get) == [
        Need("dynamodb:GetRecords", f"{TABLE}/stream/s")
    ]
