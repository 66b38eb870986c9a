"""template.yaml's management API: an HTTP API whose every data route needs a JWT, and a function
allowed no more than the API does."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.local.cfn_yaml import load_template
from tests.unit.test_sam_template import TEMPLATE, translate


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate(load_template(TEMPLATE))


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_the_management_api_requires_a_jwt_except_for_its_documentation(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    api = resources["ManagementApi"]["Properties"]["Body"]
    jwt = api["components"]["securitySchemes"]["UserJwt"]["x-amazon-apigateway-authorizer"]
    assert jwt["type"] == "jwt"
    assert jwt["jwtConfiguration"] == {"issuer": {"Ref": "JwtIssuer"}, "audience": [{"Ref": "JwtAudience"}]}
    paths = api["paths"]
    assert paths["/{proxy+}"]["x-amazon-apigateway-any-method"]["security"] == [{"UserJwt": []}]
    for public in ("/openapi.json", "/swagger"):
        assert paths[public]["get"]["security"] == [{"NONE": []}]  # SAM's way of "no authorizer here"


def test_the_api_function_is_least_privileged(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    function = resources["ApiFunction"]["Properties"]
    assert function["Runtime"] == "python3.13" and function["Handler"] == "app.handler"
    statements = [
        s for p in resources["ApiFunctionRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in _actions(s)}
    assert not [a for a in actions if a.endswith("*")]
    assert "dynamodb:Scan" not in actions and "dynamodb:DeleteItem" in actions
    deals = [s for s in statements if s["Resource"] == {"Fn::GetAtt": ["DealsTable", "Arn"]}]
    # Read, create, save; Query for the deal list and the "does this stage still hold deals" check.
    assert {a for s in deals for a in _actions(s)} == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}
    assert not [a for a in actions if a.startswith(("ses:", "sns:"))]  # test mode sends nothing
    [stop] = [s for s in statements if "lambda:StopDurableExecution" in _actions(s)]
    assert stop["Resource"] == {"Fn::Sub": "${RunnerFunction.Arn}:*"}
    # A business process started by hand (POST /deals/{id}/runs): the runner's alias, nothing else.
    invoke = [s for s in statements if "lambda:InvokeFunction" in _actions(s)]
    assert [s["Resource"] for s in invoke] == [{"Ref": "RunnerFunctionAliaslive"}]
