"""What IAM checks for one API call: the actions it needs and the resource ARN of each.

Mostly ``<service prefix>:<operation>`` on the resource the parameters name, with the exceptions
IAM has: a DynamoDB transaction needs each item's own action (PutItem, UpdateItem, DeleteItem,
ConditionCheckItem, GetItem) on that item's table, a Query or Scan of an index needs the index
ARN, Lambda's Invoke is ``lambda:InvokeFunction`` on the ARN with its qualifier, SQS batches need
their single-message action, SES v2 sends need ``ses:SendEmail`` (``ses:SendRawEmail`` for raw
content) on the sender identity, and a stream's GetRecords is authorised on the stream its
iterator came from. A call this module does not know is mapped to its operation on ``*``, which
only a ``Resource: "*"`` statement allows: unknown means refused until someone maps it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from dealflow.local.iam_names import LocalAws

_PREFIX = {"dynamodbstreams": "dynamodb", "sesv2": "ses", "ses": "ses"}
_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_SQS_BATCHES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
_LAMBDA_INVOKES = {"Invoke", "InvokeAsync", "InvokeWithResponseStream"}
# Calls every principal may make, whatever its policies say.
_UNAUTHORISED = {("sts", "GetCallerIdentity")}


@dataclass(frozen=True)
class Need:
    action: str
    resource: str


def _dynamodb(operation: str, params: dict[str, Any], local: LocalAws) -> list[Need]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        needs = []
        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                needs.append(Need(f"dynamodb:{_TRANSACT[kind]}", local.table_arn(body["TableName"])))
        return needs
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [Need(f"dynamodb:{operation}", local.table_arn(t)) for t in params.get("RequestItems", {})]
    if "TableName" not in params:
        return [Need(f"dynamodb:{operation}", "*")]
    table = local.table_arn(params["TableName"])
    if operation in ("Query", "Scan") and params.get("IndexName"):
        return [Need(f"dynamodb:{operation}", f"{table}/index/{params['IndexName']}")]
    return [Need(f"dynamodb:{operation}", table)]


def _streams(operation: str, params: dict[str, Any], stream_of: Callable[[str], str | None]) -> list[Need]:
    if "StreamArn" in params:
        return [Need(f"dynamodb:{operation}", params["StreamArn"])]
    if "ShardIterator" in params:
        return [Need(f"dynamodb:{operation}", stream_of(params["ShardIterator"]) or "*")]
    return [Need(f"dynamodb:{operation}", "*")]


def _ses(operation: str, params: dict[str, Any], local: LocalAws) -> list[Need]:
    sender = params.get("FromEmailAddressIdentityArn") or params.get("SourceArn")
    if not sender:
        address = parseaddr(params.get("FromEmailAddress") or params.get("Source") or "")[1]
        sender = local.identity_arn(address) if address else "*"
    # SES v2 has one SendEmail operation; with Raw content IAM checks ses:SendRawEmail instead.
    action = "ses:SendRawEmail" if "Raw" in params.get("Content", {}) else f"ses:{operation}"
    needs = [Need(action, sender)]
    if params.get("ConfigurationSetName"):
        needs.append(Need(action, local.arn("ses", f"configuration-set/{params['ConfigurationSetName']}")))
    return needs


def _lambda(operation: str, params: dict[str, Any], local: LocalAws) -> list[Need]:
    if operation in _LAMBDA_INVOKES:
        return [Need("lambda:InvokeFunction", local.function_arn(params["FunctionName"], params.get("Qualifier")))]
    if "DurableExecutionArn" in params:
        return [Need(f"lambda:{operation}", params["DurableExecutionArn"])]
    if "FunctionName" in params:
        return [Need(f"lambda:{operation}", local.function_arn(params["FunctionName"], params.get("Qualifier")))]
    return [Need(f"lambda:{operation}", "*")]


def _ssm(operation: str, params: dict[str, Any], local: LocalAws) -> list[Need]:
    names = params.get("Names") or [params.get("Name") or params.get("Path")]
    return [Need(f"ssm:{operation}", local.parameter_arn(n) if n else "*") for n in names]


def needs(
    service: str,
    operation: str,
    params: dict[str, Any],
    local: LocalAws,
    stream_of: Callable[[str], str | None] = lambda _iterator: None,
) -> list[Need]:
    """The (action, resource) pairs IAM checks for ``operation`` of botocore service ``service``."""
    if (service, operation) in _UNAUTHORISED:
        return []
    if service == "dynamodb":
        return _dynamodb(operation, params, local)
    if service == "dynamodbstreams":
        return _streams(operation, params, stream_of)
    if service in ("sesv2", "ses") and operation in ("SendEmail", "SendRawEmail", "SendBulkEmail"):
        return _ses(operation, params, local)
    if service == "lambda":
        return _lambda(operation, params, local)
    if service == "ssm":
        return _ssm(operation, params, local)
    if service == "sns":
        return [Need(f"sns:{operation}", params.get("TopicArn") or params.get("TargetArn") or "*")]
    if service == "sqs":
        queue = params.get("QueueUrl") or params.get("QueueName")
        return [Need(f"sqs:{_SQS_BATCHES.get(operation, operation)}", local.queue_arn(queue) if queue else "*")]
    if service == "kms" and "KeyId" in params:
        return [Need(f"kms:{operation}", local.key_arn(params["KeyId"]))]
    return [Need(f"{_PREFIX.get(service, service)}:{operation}", "*")]
