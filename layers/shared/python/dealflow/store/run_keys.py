"""Moving run-log entries written before write sharding onto their sharded index keys.

Only the index key values change (``log_key``, ``automation_key``): no index is added or dropped,
so the stack update that brings sharding is an ordinary code deploy. Listings read the legacy keys
too (``store.shards``), so the move can run at any time after the deploy, in any number of sittings.

It walks a tenant's legacy by-tenant key (``tenant#RUN``) a page at a time and rewrites each entry
on the condition that it still has that key: an entry its own run rewrote meanwhile (every rewrite
uses the sharded keys), or one an earlier sitting already moved, is left alone; an entry that
expired meanwhile is not brought back. Run it again until it reports nothing left."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from dealflow.store import shards
from dealflow.store.items import is_conditional_failure
from dealflow.store.runs import log_key


@dataclass(frozen=True)
class Moved:
    """One page's outcome: entries read under the legacy key, rewritten, left as they were found."""

    read: int
    moved: int
    skipped: int


def _new_keys(item: dict[str, Any]) -> dict[str, str]:
    run_id = item["run_id"]
    keys = {"log_key": shards.sharded(shards.unsharded(item["log_key"]), run_id)}
    if "automation_key" in item:
        keys["automation_key"] = shards.sharded(shards.unsharded(item["automation_key"]), run_id)
    return keys


def move_run_keys(table: Any, tenant_id: str, *, dry_run: bool = False, page_size: int = 100) -> Iterator[Moved]:
    """Rewrite the tenant's legacy run-log entries onto sharded keys, yielding after each page (so
    a caller can report progress or stop); ``dry_run`` reads and counts without writing."""
    legacy = log_key(tenant_id, test=False)  # every real run's by-tenant key before sharding
    params: dict[str, Any] = {
        "IndexName": "by_tenant",
        "KeyConditionExpression": Key("log_key").eq(legacy),
        "Limit": page_size,
    }
    while True:
        answer = table.query(**params)
        items = answer.get("Items", [])
        moved = skipped = 0
        for item in items:
            if dry_run or _rewrite(table, item, legacy):
                moved += 1
            else:
                skipped += 1
        yield Moved(read=len(items), moved=moved, skipped=skipped)
        if "LastEvaluatedKey" not in answer:
            return
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _rewrite(table: Any, item: dict[str, Any], legacy: str) -> bool:
    keys = _new_keys(item)
    try:
        table.update_item(
            Key={"tenant_id": item["tenant_id"], "sk": item["sk"]},
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in keys),
            ConditionExpression="#log_key = :legacy",
            ExpressionAttributeNames={f"#{name}": name for name in keys},
            ExpressionAttributeValues={f":{name}": value for name, value in keys.items()} | {":legacy": legacy},
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True
