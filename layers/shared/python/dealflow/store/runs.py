"""The run log: one item per run, kept for a year (DynamoDB TTL), queryable per deal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key

from dealflow.model import RunRecord
from dealflow.store.items import plain, query_all, to_item

RUN_RETENTION = timedelta(days=365)
_STORAGE_KEYS = ("sk", "deal_key", "automation_key", "expires_at")


def _sk(run: RunRecord | str, test: bool = False) -> str:
    run_id = run if isinstance(run, str) else run.run_id
    return f"{'TEST' if test else 'RUN'}#{run_id}"


def _record(item: dict[str, Any]) -> RunRecord:
    return RunRecord.model_validate(plain(item, *_STORAGE_KEYS))


class RunLog:
    """Real runs under ``RUN#``, indexed by deal and by automation; test runs under ``TEST#``,
    kept apart so they never show up as something that happened to a deal."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def write(self, record: RunRecord) -> None:
        started = datetime.fromisoformat(record.started_at)
        keys: dict[str, Any] = {"sk": _sk(record, record.test),
                                "expires_at": int((started + RUN_RETENTION).timestamp())}
        if not record.test:
            keys |= {"deal_key": f"{record.tenant_id}#{record.deal_id}",
                     "automation_key": f"{record.tenant_id}#{record.automation_id}"}
        self._table.put_item(Item=to_item(record, **keys))

    def get(self, tenant_id: str, run_id: str, test: bool = False) -> RunRecord | None:
        item = self._table.get_item(Key={"tenant_id": tenant_id, "sk": _sk(run_id, test)}).get("Item")
        return None if item is None else _record(item)

    def _by(self, index: str, key: str, value: str, limit: int) -> list[RunRecord]:
        page = self._table.query(IndexName=index, ScanIndexForward=False, Limit=limit,
                                 KeyConditionExpression=Key(key).eq(value))
        return [_record(i) for i in page.get("Items", [])]

    def for_deal(self, tenant_id: str, deal_id: str, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        return self._by("by_deal", "deal_key", f"{tenant_id}#{deal_id}", limit)

    def for_automation(self, tenant_id: str, automation_id: str, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        return self._by("by_automation", "automation_key", f"{tenant_id}#{automation_id}", limit)

    def all(self, tenant_id: str, test: bool = False) -> list[RunRecord]:
        """Newest first."""
        runs = [_record(i) for i in query_all(self._table, tenant_id, "TEST#" if test else "RUN#")]
        return sorted(runs, key=lambda r: r.started_at, reverse=True)
