"""Runs share a container on threads locally (on AWS each invocation has its container to itself):
the harness makes moto and boto3's DynamoDB resource safe for that, or a run now and then reads
another tenant's key and finds its own tenant "unknown" — the demo told a different story about
one time in twenty-five, under load."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from moto import mock_aws

from dealflow.local.moto_lock import serialise_moto_requests


@pytest.fixture
def switching_often() -> Iterator[None]:
    """Threads switch every microsecond, so an unguarded shared builder would be caught at once."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_queries_on_threads_each_read_their_own_tenant(switching_often: None) -> None:
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="eu-west-1")  # made before the harness's patch
        serialise_moto_requests()
        table = dynamodb.create_table(
            TableName="AutomationTable",
            KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "tenant_id", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        tenants = [f"tenant-{n}" for n in range(8)]
        for tenant in tenants:
            table.put_item(Item={"tenant_id": tenant, "sk": "TENANT", "name": tenant})
        wrong: list[object] = []

        def read_own(tenant: str) -> None:
            for _ in range(150):
                try:
                    items = table.query(
                        KeyConditionExpression=Key("tenant_id").eq(tenant) & Key("sk").begins_with("TENANT")
                    )["Items"]
                except Exception as exc:  # a request with the other thread's placeholders
                    wrong.append(exc)
                    continue
                if [item["name"] for item in items] != [tenant]:
                    wrong.append((tenant, items))

        threads = [threading.Thread(target=read_own, args=(tenant,)) for tenant in tenants]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert wrong == []
