"""The local stack's resources named as AWS names them: ARNs for calls, and the template's
``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub`` resolved to the same ARNs, so policies and calls meet.

Locally each resource is called by its logical id (``DealsTable``, ``RunnerFunction``), as
``dealflow.local.provision`` creates them; the stream, topic and queue are the ones moto made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# The runner's alias points at a published version; locally that is version 1.
LOCAL_VERSION = "1"


@dataclass(frozen=True)
class LocalAws:
    region: str
    account: str = "123456789012"
    parameters: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    streams: dict[str, str] = field(default_factory=dict)  # table logical id -> stream ARN
    topics: dict[str, str] = field(default_factory=dict)  # logical id -> topic ARN
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL
    partition: str = "aws"
    stack_name: str = "dealflow-local"

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"

    def table_arn(self, table: str) -> str:
        return table if table.startswith("arn:") else self.arn("dynamodb", f"table/{table}")

    def function_arn(self, function: str, qualifier: str | None = None) -> str:
        """A function name, partial or full ARN, with ``name:qualifier`` or ``qualifier`` given."""
        if function.startswith("arn:"):
            base = function
        else:
            base = self.arn("lambda", f"function:{function.removeprefix('function:')}")
        return f"{base}:{qualifier}" if qualifier else base

    def durable_execution_arn(self, function: str, execution: str) -> str:
        """The ARN the durable service authorises against: a sub-resource of a function version.
        The local testing SDK names executions by a bare id; the execution name is not known
        here, so the id stands for both."""
        if execution.startswith("arn:"):
            return execution
        return f"{self.function_arn(function, LOCAL_VERSION)}/durable-execution/{execution}/{execution}"

    def queue_arn(self, queue: str) -> str:
        """From a queue URL (``https://host/<account>/<name>``) or a name."""
        if queue.startswith("arn:"):
            return queue
        return self.arn("sqs", queue.rstrip("/").rsplit("/", 1)[-1])

    def parameter_arn(self, name: str) -> str:
        return name if name.startswith("arn:") else self.arn("ssm", f"parameter/{name.lstrip('/')}")

    def identity_arn(self, identity: str) -> str:
        return self.arn("ses", f"identity/{identity}")

    def key_arn(self, key: str) -> str:
        return key if key.startswith("arn:") else self.arn("kms", f"key/{key}")


class UnresolvedReference(ValueError):
    pass


_SUB = re.compile(r"\$\{([^}!]+)\}")


class Intrinsics:
    """Resolves CloudFormation intrinsics in a translated template against ``LocalAws``."""

    def __init__(self, resources: dict[str, Any], local: LocalAws, defaults: dict[str, str]) -> None:
        self._resources = resources
        self._local = local
        self._parameters = {**defaults, **local.parameters}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str | int | float | bool):
            return value
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict) or len(value) != 1:
            raise UnresolvedReference(f"not a value or an intrinsic function: {value!r}")
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            name, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(name, attribute)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return self._sub(text, {k: self.resolve(v) for k, v in variables.items()})
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(p) for p in self.resolve(parts))
        raise UnresolvedReference(f"{function} is not supported here")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            return str(self.ref(name))

        return _SUB.sub(one, text)

    def ref(self, name: str) -> str:
        local = self._local
        pseudo = {
            "AWS::Region": local.region,
            "AWS::AccountId": local.account,
            "AWS::Partition": local.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": local.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        resource = self._resource(name)
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            return local.tables[name]
        if kind == "AWS::SNS::Topic":
            return local.topics[name]
        if kind == "AWS::SQS::Queue":
            return local.queues[name]
        if kind == "AWS::SES::EmailIdentity":
            return str(self.resolve(props["EmailIdentity"]))
        if kind == "AWS::Lambda::Function":
            return name
        if kind == "AWS::Lambda::Alias":
            return local.function_arn(self.resolve(props["FunctionName"]), props["Name"])
        if kind == "AWS::Lambda::Version":
            return local.function_arn(self.resolve(props["FunctionName"]), LOCAL_VERSION)
        return name

    def get_att(self, name: str, attribute: str) -> str:
        local = self._local
        kind = self._resource(name)["Type"]
        found = {
            ("AWS::DynamoDB::Table", "Arn"): lambda: local.table_arn(local.tables[name]),
            ("AWS::DynamoDB::Table", "StreamArn"): lambda: local.streams[name],
            ("AWS::Lambda::Function", "Arn"): lambda: local.function_arn(name),
            ("AWS::SQS::Queue", "Arn"): lambda: local.queue_arn(local.queues[name]),
            ("AWS::SQS::Queue", "QueueName"): lambda: local.queue_arn(local.queues[name]).rsplit(":", 1)[-1],
            ("AWS::SQS::Queue", "QueueUrl"): lambda: local.queues[name],
            ("AWS::SNS::Topic", "TopicArn"): lambda: local.topics[name],
            ("AWS::SNS::Topic", "TopicName"): lambda: local.topics[name].rsplit(":", 1)[-1],
            ("AWS::IAM::Role", "Arn"): lambda: f"arn:{local.partition}:iam::{local.account}:role/{name}",
        }.get((kind, attribute))
        if found is None:
            raise UnresolvedReference(f"Fn::GetAtt {name}.{attribute} ({kind}) has no local value")
        try:
            return found()
        except KeyError:
            raise UnresolvedReference(f"{name} ({kind}) was not created locally") from None

    def _resource(self, name: str) -> dict[str, Any]:
        resource = self._resources.get(name)
        if resource is None:
            raise UnresolvedReference(f"no parameter or resource named {name!r}")
        return dict(resource)
