"""template.yaml validates offline: SAM transform, then cfn-lint on the CloudFormation it produces.

cfn-lint >= 1.54 no longer runs aws-sam-translator itself, so a misspelled SAM property
(``AutoPublishAlais``) passes a plain ``cfn-lint template.yaml``. Here the template goes through
samtranslator first (unknown SAM properties fail there) and the output through cfn-lint (unknown
or invalid CloudFormation properties fail there). No network, no AWS account.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from samtranslator.model.exceptions import InvalidDocumentException

from dealflow.local import sam
from dealflow.local.cfn_yaml import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
REGION = "eu-central-1"
PARAMETERS = {"SenderEmail": "sales@example.com"}


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """SAM -> CloudFormation, offline (``dealflow.local.sam``, which the IAM contract uses too).
    Raises InvalidDocumentException on SAM errors."""
    return sam.translate(template, PARAMETERS, REGION)


def validate(template: dict[str, Any]) -> list[str]:
    """Every problem in ``template``: SAM transform errors, then cfn-lint errors and warnings.

    Warnings count too: the template is kept at zero, so a new warning is a decision to make
    (fix it, or ignore that rule here with a reason), not noise to scroll past.
    """
    try:
        translated = translate(template)
    except InvalidDocumentException as exc:
        return [f"sam: {cause.message}" for cause in exc.causes] or [f"sam: {exc}"]
    matches = lint(json.dumps(translated), config=ManualArgs(regions=[REGION]))
    return [f"{m.rule.id} {'/'.join(str(p) for p in m.path)}: {m.message}" for m in matches if m.rule.id[0] in "EW"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def translated(template: dict[str, Any]) -> dict[str, Any]:
    return translate(template)


def _resources_of_type(cfn: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == type_}


def test_template_transforms_and_lints_clean(template: dict[str, Any]) -> None:
    assert validate(template) == []


def test_translated_template_has_what_the_design_relies_on(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]

    # The stream mapping: a poison record never blocks a shard.
    mappings = _resources_of_type(translated, "AWS::Lambda::EventSourceMapping").values()
    (mapping,) = [m for m in mappings if m["Properties"]["FunctionName"] == {"Ref": "DispatcherFunction"}]
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": "DispatcherFunction"}
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["DealsTable", "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 <= props["MaximumRetryAttempts"] <= 10
    assert 60 <= props["MaximumRecordAgeInSeconds"] <= 6 * 3600
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["DispatcherFailureQueue", "Arn"]}
    patterns = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]
    assert patterns and all(set(p["eventName"]) <= {"INSERT", "MODIFY", "REMOVE"} for p in patterns)

    # The runner: a durable function on python3.13/arm64, invoked through an alias.
    runner = resources["RunnerFunction"]["Properties"]
    assert runner["Runtime"] == "python3.13"
    assert runner["Architectures"] == ["arm64"]
    assert runner["DurableConfig"]["ExecutionTimeout"] >= 30 * 24 * 3600
    assert 1 <= runner["DurableConfig"]["RetentionPeriodInDays"] <= 90
    alias = resources["RunnerFunctionAliaslive"]
    assert alias["Type"] == "AWS::Lambda::Alias"
    assert alias["Properties"]["FunctionName"] == {"Ref": "RunnerFunction"}

    # The dispatcher invokes exactly that alias.
    dispatcher = resources["DispatcherFunction"]["Properties"]
    assert dispatcher["Environment"]["Variables"]["RUNNER_FUNCTION"] == {"Ref": "RunnerFunctionAliaslive"}
    role = resources["DispatcherFunctionRole"]["Properties"]
    invoke = [
        s
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert [s["Resource"] for s in invoke] == [{"Ref": "RunnerFunctionAliaslive"}]

    # Both images on the stream: "stage from -> to" needs the old one.
    deals = resources["DealsTable"]["Properties"]
    assert deals["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def _statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for p in resources[role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_the_webhooks_function_is_public_but_signed_and_least_privileged(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    function = resources["WebhooksFunction"]["Properties"]
    assert function["Runtime"] == "python3.13" and function["Architectures"] == ["arm64"]
    assert function["Environment"]["Variables"]["RUNNER_FUNCTION"] == {"Ref": "RunnerFunctionAliaslive"}

    # POST /webhooks/{tenant_id} on its own HTTP API, with no authorizer: the HMAC authenticates.
    api = resources["WebhooksApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    route = api["Properties"]["Body"]["paths"]["/webhooks/{tenant_id}"]
    assert list(route) == ["post"]
    assert "security" not in route["post"]
    assert route["post"]["x-amazon-apigateway-integration"]["payloadFormatVersion"] == "2.0"

    statements = _statements(resources, "WebhooksFunctionRole")
    actions = sorted({a for s in statements for a in _actions(s)})
    # Read the deal and automation, claim event ids, start runs, read one kind of parameter; claim
    # the waiter items of runs waiting for the event (a conditional DeleteItem) and resume them.
    assert not [
        a
        for a in actions
        if a.startswith("dynamodb:")
        and a
        not in {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
            "dynamodb:ConditionCheckItem",
            "dynamodb:PartiQLSelect",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        }
    ], actions
    deletes = [s for s in statements if "dynamodb:DeleteItem" in _actions(s)]
    assert [s["Resource"] for s in deletes] == [{"Fn::GetAtt": ["AutomationTable", "Arn"]}]
    resumes = [s for s in statements if "lambda:SendDurableExecutionCallbackSuccess" in _actions(s)]
    assert [s["Resource"] for s in resumes] == [{"Fn::Sub": "${RunnerFunction.Arn}:*"}]
    put = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    assert [s["Resource"] for s in put] == [{"Fn::GetAtt": ["AutomationTable", "Arn"]}]
    invoke = [s for s in statements if "lambda:InvokeFunction" in _actions(s)]
    assert [s["Resource"] for s in invoke] == [{"Ref": "RunnerFunctionAliaslive"}]
    [ssm] = [s for s in statements if any(a.startswith("ssm:") for a in _actions(s))]
    assert _actions(ssm) == ["ssm:GetParameter"]
    assert ssm["Resource"]["Fn::Sub"].endswith(":parameter${WebhookSecretPrefix}/*/webhook-secret")
    assert not [a for a in actions if a.startswith("kms:")]  # aws/ssm's key policy covers decryption

    assert "WebhooksUrl" in translated["Outputs"]


@pytest.mark.parametrize(
    ("resource", "path", "wrong"),
    [
        ("RunnerFunction", ("Properties", "AutoPublishAlias"), "AutoPublishAlais"),
        (
            "DispatcherFunction",
            ("Properties", "Events", "DealsStream", "Properties", "BisectBatchOnFunctionError"),
            "BisectBatchOnFunctionEror",
        ),
        ("RunnerFunction", ("Properties", "DurableConfig", "ExecutionTimeout"), "ExecutionTimout"),
    ],
)
def test_misspelled_property_fails_validation(
    template: dict[str, Any], resource: str, path: tuple[str, ...], wrong: str
) -> None:
    broken = copy.deepcopy(template)
    parent = broken["Resources"][resource]
    for key in path[:-1]:
        parent = parent[key]
    parent[wrong] = parent.pop(path[-1])

    problems = validate(broken)

    assert problems, f"{wrong} was accepted"
    assert any(wrong in p or path[-1] in p for p in problems), problems
