"""The run log: one item per run, kept for a year (DynamoDB TTL), queryable per deal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key

from dealflow.model import RunRecord
from dealflow.store.items import plain, query_all, to_item

RUN_RETENTION = timedelta(days=365)
_STORAGE_KEYS = ("sk", "deal_key", "expires_at")


def _sk(run_id: str) -> str:
    return f"RUN#{run_id}"


class RunLog:
    def __init__(self, table: Any) -> None:
        self._table = table

    def write(self, record: RunRecord) -> None:
        started = datetime.fromisoformat(record.started_at)
        self._table.put_item(Item=to_item(
            record, sk=_sk(record.run_id), deal_key=f"{record.tenant_id}#{record.deal_id}",
            expires_at=int((started + RUN_RETENTION).timestamp())))

    def get(self, tenant_id: str, run_id: str) -> RunRecord | None:
        item = self._table.get_item(Key={"tenant_id": tenant_id, "sk": _sk(run_id)}).get("Item")
        return None if item is None else RunRecord.model_validate(plain(item, *_STORAGE_KEYS))

    def for_deal(self, tenant_id: str, deal_id: str, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        page = self._table.query(IndexName="by_deal", ScanIndexForward=False, Limit=limit,
                                 KeyConditionExpression=Key("deal_key").eq(f"{tenant_id}#{deal_id}"))
        return [RunRecord.model_validate(plain(i, *_STORAGE_KEYS)) for i in page.get("Items", [])]

    def all(self, tenant_id: str) -> list[RunRecord]:
        """Newest first."""
        runs = [RunRecord.model_validate(plain(i, *_STORAGE_KEYS)) for i in query_all(self._table, tenant_id, "RUN#")]
        return sorted(runs, key=lambda r: r.started_at, reverse=True)
