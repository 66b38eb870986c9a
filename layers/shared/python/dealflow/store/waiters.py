"""The registry of runs waiting for an event (``ports.Waiters``): one item per run and ``wait_for``
node in the tenant's partition of the automation table, ``WAIT#<deal id>#<run id>#<node>``, so a
deal's waiters are one Query on a key prefix (no index), and a run's are a narrower one. Removed
when the run is resumed (a conditional delete: one claimant), times out, or is cancelled; DynamoDB's
TTL removes whatever outlives its timeout by a day."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from dealflow.ports import Waiter
from dealflow.store.items import is_conditional_failure, query_all


def _prefix(deal_id: str, run_id: str | None = None) -> str:
    return f"WAIT#{deal_id}#" + (f"{run_id}#" if run_id is not None else "")


def _sk(waiter: Waiter) -> str:
    return _prefix(waiter.deal_id, waiter.run_id) + waiter.position


class WaiterRegistry:
    def __init__(self, table: Any) -> None:
        self._table = table

    def add(self, waiter: Waiter) -> None:
        self._table.put_item(
            Item={
                "tenant_id": waiter.tenant_id,
                "sk": _sk(waiter),
                "deal_id": waiter.deal_id,
                "run_id": waiter.run_id,
                "position": waiter.position,
                "callback_id": waiter.callback_id,
                "automation_id": waiter.automation_id,
                "on": waiter.on,
                "until": json.dumps(waiter.until, separators=(",", ":")),
                "wait_until": waiter.expires_at,
                "expires_at": int(datetime.fromisoformat(waiter.expires_at).timestamp()),
            }
        )

    def of_deal(self, tenant_id: str, deal_id: str) -> list[Waiter]:
        return [_waiter(item) for item in query_all(self._table, tenant_id, _prefix(deal_id))]

    def claim(self, waiter: Waiter) -> bool:
        try:
            self._table.delete_item(
                Key={"tenant_id": waiter.tenant_id, "sk": _sk(waiter)},
                ConditionExpression=Attr("callback_id").eq(waiter.callback_id),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def forget(self, tenant_id: str, deal_id: str, run_id: str) -> None:
        for item in query_all(self._table, tenant_id, _prefix(deal_id, run_id), ProjectionExpression="sk"):
            self._table.delete_item(Key={"tenant_id": tenant_id, "sk": item["sk"]})


def _waiter(item: dict[str, Any]) -> Waiter:
    return Waiter(
        tenant_id=item["tenant_id"],
        deal_id=item["deal_id"],
        run_id=item["run_id"],
        position=item["position"],
        callback_id=item["callback_id"],
        automation_id=item["automation_id"],
        on=item["on"],
        until=json.loads(item["until"]),
        expires_at=item["wait_until"],
    )
