"""Each function's role as the translated template grants it, and the IAM decision for one
action on one resource: an explicit Deny wins, otherwise some Allow must match, else refused.

What is evaluated: identity-based statements only (the role's inline policies, AWS::IAM::Policy
resources attached to it, and the AWS managed policies SAM attaches, whose documents are below).
A statement with a ``Condition`` cannot be judged without the request context, so here an Allow
with one grants nothing and a Deny with one denies: the contract errs towards refusing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from dealflow.local.iam_names import Intrinsics

# AWS managed policies SAM attaches to function roles, as AWS publishes them (the policy reference
# at docs.aws.amazon.com/aws-managed-policy/latest/reference/<name>.html). A role naming another
# one fails the contract until its document is added here.
_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "AWSLambdaBasicExecutionRole": [{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}],
    "AWSLambdaBasicDurableExecutionRolePolicy": [
        {
            "Effect": "Allow",
            "Action": [*_LOGS, "lambda:CheckpointDurableExecution", "lambda:GetDurableExecutionState"],
            "Resource": "*",
        }
    ],
    "AWSLambdaDynamoDBExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
                *_LOGS,
            ],
            "Resource": "*",
        }
    ],
    "AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS],
            "Resource": "*",
        }
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
}

# Used by the Lambda runtime and the X-Ray daemon, never by function code through boto3.
RUNTIME_SERVICES = frozenset({"logs", "xray"})


class UnsupportedPolicy(ValueError):
    pass


@cache
def _action_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), re.IGNORECASE)


@cache
def _resource_pattern(pattern: str) -> re.Pattern[str]:
    """IAM's ARN wildcards: ``*`` and ``?`` stay inside one colon-separated segment, except a ``*``
    ending a segment, which may run on past the colons (``function:name:*`` matches
    ``function:name:1/durable-execution/...``)."""
    parts = []
    for i, char in enumerate(pattern):
        if char == "*":
            ends_segment = i + 1 == len(pattern) or pattern[i + 1] == ":"
            parts.append(".*" if ends_segment else "[^:]*")
        elif char == "?":
            parts.append("[^:]")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts))


@dataclass(frozen=True)
class Grant:
    """One action pattern on one resource pattern, from one statement of a function's role."""

    function: str
    effect: str
    action: str
    resource: str
    source: str  # the policy it comes from
    conditional: bool = False

    def matches(self, action: str, resource: str) -> bool:
        return bool(_action_pattern(self.action).fullmatch(action)) and bool(
            _resource_pattern(self.resource).fullmatch(resource)
        )

    @property
    def service(self) -> str:
        return self.action.split(":", 1)[0].lower()

    def describe(self) -> str:
        return f"{self.action} on {self.resource} ({self.source})"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    by: tuple[Grant, ...]  # the Allows that matched, or the Deny that refused


@dataclass(frozen=True)
class Role:
    function: str
    name: str
    grants: tuple[Grant, ...]

    def decide(self, action: str, resource: str) -> Decision:
        matching = [g for g in self.grants if g.matches(action, resource)]
        denies = tuple(g for g in matching if g.effect == "Deny")
        if denies:
            return Decision(False, denies)
        allows = tuple(g for g in matching if g.effect == "Allow" and not g.conditional)
        return Decision(bool(allows), allows)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(function: str, source: str, statements: list[dict[str, Any]], intrinsics: Intrinsics) -> list[Grant]:
    grants = []
    for statement in statements:
        if "NotAction" in statement or "NotResource" in statement:
            raise UnsupportedPolicy(f"{function}: NotAction/NotResource in {source} is not evaluated by the contract")
        resources: list[str] = []
        for resource in _listed(statement.get("Resource", [])):
            resolved = intrinsics.resolve(resource)
            resources.extend(str(r) for r in _listed(resolved))
        for action in _listed(statement.get("Action", [])):
            for resource in resources:
                grants.append(
                    Grant(
                        function=function,
                        effect=statement.get("Effect", "Allow"),
                        action=str(action),
                        resource=resource,
                        source=f"{source}/{statement['Sid']}" if statement.get("Sid") else source,
                        conditional="Condition" in statement,
                    )
                )
    return grants


def function_roles(translated: dict[str, Any], intrinsics: Intrinsics) -> dict[str, Role]:
    """Every AWS::Lambda::Function's role (logical id of the function → Role)."""
    resources: dict[str, Any] = translated["Resources"]
    roles: dict[str, Role] = {}
    for function, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"].get("Role")
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise UnsupportedPolicy(f"{function}: its Role is not a role of this template ({role_ref!r})")
        role_name = role_ref["Fn::GetAtt"][0]
        role = resources[role_name]["Properties"]
        grants: list[Grant] = []
        for policy in role.get("Policies", []):
            document = policy["PolicyDocument"]
            grants += _grants(function, policy["PolicyName"], _listed(document["Statement"]), intrinsics)
        for arn in role.get("ManagedPolicyArns", []):
            name = str(intrinsics.resolve(arn)).rsplit("/", 1)[-1]
            if name not in MANAGED_POLICIES:
                raise UnsupportedPolicy(f"{function}: managed policy {name} has no document in MANAGED_POLICIES")
            grants += _grants(function, f"{name} (AWS managed)", MANAGED_POLICIES[name], intrinsics)
        for name, other in resources.items():
            attached = other["Type"] == "AWS::IAM::Policy" and {"Ref": role_name} in other["Properties"].get(
                "Roles", []
            )
            if attached:
                document = other["Properties"]["PolicyDocument"]
                grants += _grants(function, name, _listed(document["Statement"]), intrinsics)
        roles[function] = Role(function=function, name=role_name, grants=tuple(grants))
    return roles
