"""Create the resources template.yaml declares, on moto, under their logical ids — or find them
on a moto server another harness already provisioned (``attach``).

Only what the functions touch is provisioned (tables with their keys, indexes, streams and TTL;
topics; queues; the SES identity); everything else in the template is for AWS alone. Reading the
template rather than repeating it keeps local runs honest: rename a key there and this follows.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from dealflow.aws.secrets import DEFAULT_PAGE_KEY_PARAMETER
from dealflow.local.cfn_yaml import load_template

TEMPLATE = Path(__file__).resolve().parents[5] / "template.yaml"


@dataclass
class Resources:
    tables: dict[str, str] = field(default_factory=dict)
    streams: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    sender: str = ""


def _table(dynamodb: Any, name: str, props: dict[str, Any]) -> str | None:
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if "GlobalSecondaryIndexes" in props:
        params["GlobalSecondaryIndexes"] = [
            {k: v for k, v in index.items() if k in {"IndexName", "KeySchema", "Projection"}}
            for index in props["GlobalSecondaryIndexes"]
        ]
    if "StreamSpecification" in props:
        params["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    description = dynamodb.create_table(**params)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return description.get("LatestStreamArn")


@cache
def _parsed(path: Path, modified_ns: int) -> dict[str, Any]:
    # PyYAML in pure Python takes a good part of a second over template.yaml, and a test session
    # starts hundreds of stacks; the modification time in the key lets an edited template through.
    return load_template(path)


def provision(session: Any, sender: str, template_path: Path = TEMPLATE) -> Resources:
    template = _parsed(template_path, template_path.stat().st_mtime_ns)
    found = Resources(sender=sender)
    dynamodb, sns, sqs = session.client("dynamodb"), session.client("sns"), session.client("sqs")
    for name, resource in template["Resources"].items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            found.tables[name] = name
            stream = _table(dynamodb, name, props)
            if stream:
                found.streams[name] = stream
        elif kind == "AWS::SNS::Topic":
            found.topics[name] = sns.create_topic(Name=name)["TopicArn"]
        elif kind == "AWS::SQS::Queue":
            found.queues[name] = sqs.create_queue(QueueName=name)["QueueUrl"]
        elif kind == "AWS::SES::EmailIdentity":
            session.client("sesv2").create_email_identity(EmailIdentity=sender)
    return found


class NotProvisioned(LookupError):
    """The moto server lacks a resource the template declares: nothing provisioned it."""


def attach(session: Any, sender: str | None = None, template_path: Path = TEMPLATE) -> Resources:
    """The resources ``provision`` made on this moto server earlier (from another process, say),
    found under the same logical-id names; creates nothing but the SES identity of ``sender``, so
    a second harness can send mail from its own address."""
    template = load_template(template_path)
    found = Resources(sender=sender or "")
    dynamodb, sns, sqs = session.client("dynamodb"), session.client("sns"), session.client("sqs")
    topics = {arn.rsplit(":", 1)[-1]: arn for arn in _topic_arns(sns)}
    for name, resource in template["Resources"].items():
        kind = resource["Type"]
        try:
            if kind == "AWS::DynamoDB::Table":
                found.tables[name] = name
                stream = dynamodb.describe_table(TableName=name)["Table"].get("LatestStreamArn")
                if stream:
                    found.streams[name] = stream
            elif kind == "AWS::SNS::Topic":
                found.topics[name] = topics[name]
            elif kind == "AWS::SQS::Queue":
                found.queues[name] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except (KeyError, dynamodb.exceptions.ResourceNotFoundException, sqs.exceptions.QueueDoesNotExist):
            raise NotProvisioned(
                f"no {kind} '{name}' here: the server was not provisioned from template.yaml"
            ) from None
    if sender:
        identities = session.client("sesv2").list_email_identities().get("EmailIdentities", [])
        if sender not in {i["IdentityName"] for i in identities}:
            session.client("sesv2").create_email_identity(EmailIdentity=sender)
    return found


def _topic_arns(sns: Any) -> list[str]:
    return [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]


def ensure_page_key(ssm: Any, name: str = DEFAULT_PAGE_KEY_PARAMETER) -> None:
    """The local default of the deployment's page-token key (the stack does not create it on AWS
    either): a fresh random one, so a token from another local stack is foreign as another
    deployment's is; one already there (a harness attaching, a second seed) is kept."""
    with contextlib.suppress(ssm.exceptions.ParameterAlreadyExists):
        ssm.put_parameter(Name=name, Value=secrets.token_urlsafe(32), Type="SecureString")
