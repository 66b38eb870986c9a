"""The run log: one item per run, kept for a year (DynamoDB TTL), queryable per deal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import reduce
from operator import and_
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from dealflow.clock import now_iso
from dealflow.limits import MAX_BATCH_WRITE_BYTES, MAX_BATCH_WRITE_ITEMS
from dealflow.model import RunRecord, RunStep
from dealflow.model.base import stored
from dealflow.store import shards
from dealflow.store.batches import batch_put
from dealflow.store.items import dynamo_value, is_conditional_failure, plain, query_all, to_item

RUN_RETENTION = timedelta(days=365)
_CANCELLED_BY = "cancelled_by"  # the cancellation job that marked a run: its retry counts the run once
_STORAGE_KEYS = ("sk", "deal_key", "automation_key", "log_key", "expires_at", _CANCELLED_BY)
# A page of a filtered list reads at most this many index pages, so one request stays short even when
# few runs match; the caller goes on with the token.
_MAX_READS = 10
_OPEN = ("running", "waiting")  # every other status is how a run ended
# What started a run is kept while it can still be retried or resumed (stored, never shown), when
# it is this small: a request is a few KB, and the record itself is fitted under _FIT_BYTES, so the
# item stays under DynamoDB's 400 KB. A larger one is not kept: that run cannot be continued.
_CONTINUABLE = ("failed", "waiting")
_MAX_REQUEST_BYTES = 64 * 1024
# DynamoDB refuses an item over 400 KB; a run's record is kept well under it (names, keys and
# number encodings are not counted exactly here), trimming the oldest steps' details first.
MAX_ITEM_BYTES = 400 * 1024
_FIT_BYTES = 300 * 1024
_KEPT_AT_ENDS = 20
# A batch of records written in one call never passes the call's limit: each is fitted first.
assert _FIT_BYTES * MAX_BATCH_WRITE_ITEMS < MAX_BATCH_WRITE_BYTES


def item_bytes(item: dict[str, Any]) -> int:
    """About what DynamoDB counts for an item: its names and values as UTF-8."""
    return len(json.dumps(item, default=str, ensure_ascii=False, separators=(",", ":")).encode())


def _trimmed(step: RunStep) -> RunStep:
    return step.model_copy(update={"detail": {"trimmed": "detail dropped: the run log keeps one item per run"}})


def _measure(value: Any) -> int:
    return item_bytes(value.model_dump(mode="json"))


def fitted(record: RunRecord, limit: int = _FIT_BYTES) -> RunRecord:
    """The record as it fits one item (``limit`` bytes): the oldest steps' details dropped first,
    then, for a run of thousands of steps, the steps between its first and last few replaced by a
    note saying so. Each step is measured once; the record's size is their sum plus the rest of it."""
    sizes = [_measure(step) for step in record.steps]
    total = _measure(record.model_copy(update={"steps": []})) + sum(sizes) + len(sizes)  # commas
    if total <= limit:
        return record
    steps = list(record.steps)
    for i in range(len(steps) - 1):  # the last step says how the run ended: it stays whole
        steps[i] = _trimmed(steps[i])
        trimmed = _measure(steps[i])
        total, sizes[i] = total - sizes[i] + trimmed, trimmed
        if total <= limit:
            return record.model_copy(update={"steps": steps})
    if len(steps) > 2 * _KEPT_AT_ENDS:
        dropped = len(steps) - 2 * _KEPT_AT_ENDS
        note = RunStep(name="…", kind="check", outcome=f"{dropped} steps not kept in the run log")
        steps = [*steps[:_KEPT_AT_ENDS], note, *steps[-_KEPT_AT_ENDS:]]
    shorter = record.model_copy(update={"steps": steps})
    if _measure(shorter) <= limit:
        return shorter
    return shorter.model_copy(update={"steps": [_trimmed(s) for s in steps]})


def _sk(run: RunRecord | str, test: bool = False) -> str:
    run_id = run if isinstance(run, str) else run.run_id
    return f"{'TEST' if test else 'RUN'}#{run_id}"


def _scope(tenant_id: str, test: bool) -> str:
    # Test runs have index keys of their own ('#' is in no id), so they never show up as something
    # that happened to a deal, and are still found by deal and by automation among test runs.
    return f"{tenant_id}#TEST#" if test else f"{tenant_id}#"


def log_key(tenant_id: str, test: bool) -> str:
    return f"{tenant_id}#{'TEST' if test else 'RUN'}"


def _spread(key: str, record: RunRecord) -> str:
    # Real runs only: a tenant's runs can come by thousands a second, test runs come by hand.
    return key if record.test else shards.sharded(key, record.run_id)


def _listing(tenant_id: str, test: bool, automation_id: str | None) -> tuple[str, str, list[str]]:
    """The index, key name and partition keys of the by-automation or by-tenant listing."""
    index, name, key = (
        ("by_automation", "automation_key", f"{_scope(tenant_id, test)}{automation_id}")
        if automation_id is not None
        else ("by_tenant", "log_key", log_key(tenant_id, test))
    )
    return index, name, [key] if test else shards.keys(key)


class BadStartKey(ValueError):
    """A page's start key that is not one this log handed out for the same list."""


def _record(item: dict[str, Any]) -> RunRecord:
    return stored(RunRecord, plain(item, *_STORAGE_KEYS))


class RunLog:
    """Real runs under ``RUN#``, indexed by deal and by automation; test runs under ``TEST#``,
    kept apart so they never show up as something that happened to a deal."""

    def __init__(self, table: Any, batch_client: Any = None) -> None:
        self._table = table
        self._batch_client = batch_client  # a low-level DynamoDB client, for ``write_all``

    def _item(self, record: RunRecord) -> dict[str, Any]:
        item = self._keyed(record)
        # One measure of the item for most records (a dispatcher's entries all), not one per step:
        # the item holds the record without its empty values, which in ``fitted``'s measure add
        # a few bytes a step (well under the item's own size), so half the limit leaves no doubt.
        if item_bytes(item) <= _FIT_BYTES // 2:
            return item
        return self._keyed(fitted(record))

    def _keyed(self, record: RunRecord) -> dict[str, Any]:
        started = datetime.fromisoformat(record.started_at)
        keys: dict[str, Any] = {
            "sk": _sk(record, record.test),
            "expires_at": int((started + RUN_RETENTION).timestamp()),
        }
        scope = _scope(record.tenant_id, record.test)
        keys |= {
            "deal_key": f"{scope}{record.deal_id}",
            "automation_key": _spread(f"{scope}{record.automation_id}", record),
            "log_key": _spread(log_key(record.tenant_id, record.test), record),
        }
        if record.request is not None and record.status in _CONTINUABLE:
            request = dynamo_value(record.request.model_dump(mode="python", exclude_none=True))
            if item_bytes(request) <= _MAX_REQUEST_BYTES:
                keys["request"] = request
        return to_item(record, **keys)

    def write(self, record: RunRecord) -> None:
        self._table.put_item(Item=self._item(record))

    def write_all(self, records: Sequence[RunRecord]) -> list[RunRecord]:
        """Store (or rewrite) many records in few calls (BatchWriteItem, unprocessed ones sent again
        with backoff); returns those still not written."""
        if self._batch_client is None:
            raise RuntimeError("this run log was made without a client for batch writes")
        items = {(r.tenant_id, _sk(r, r.test)): r for r in records}
        unwritten = batch_put(self._batch_client, self._table.name, [self._item(r) for r in items.values()])
        return [items[(item["tenant_id"], item["sk"])] for item in unwritten]

    def end(self, record: RunRecord) -> bool:
        """Write a run's last record unless the stored one has ended already; False when it had."""
        still_open = Attr("sk").not_exists() | Attr("status").is_in(list(_OPEN))
        try:
            self._table.put_item(Item=self._item(record), ConditionExpression=still_open)
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def restore(self, record: RunRecord) -> bool:
        """Write a record kept aside (the dead-letter) unless the run log holds a newer one: one
        that ended, or, while both are open, one with as many steps. False when it did."""
        stored = self.get(record.tenant_id, record.run_id, record.test)
        if stored is not None:
            if stored.status not in _OPEN:
                return False
            if record.status in _OPEN and len(stored.steps) >= len(record.steps):
                return False
        if record.status in _OPEN:
            self.write(record)
            return True
        return self.end(record)

    def get(self, tenant_id: str, run_id: str, test: bool = False) -> RunRecord | None:
        item = self._table.get_item(Key={"tenant_id": tenant_id, "sk": _sk(run_id, test)}).get("Item")
        return None if item is None else _record(item)

    def for_deal(self, tenant_id: str, deal_id: str, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        return self.page(tenant_id, deal_id=deal_id, limit=limit)[0]

    def for_automation(self, tenant_id: str, automation_id: str, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        return self.page(tenant_id, automation_id=automation_id, limit=limit)[0]

    def cancellable(
        self,
        tenant_id: str,
        *,
        job_id: str,
        deal_id: str | None = None,
        automation_id: str | None = None,
        start: dict[str, str] | None = None,
        limit: int = 100,
    ) -> tuple[list[RunRecord], dict[str, str] | None]:
        """At most ``limit`` runs of a deal's (or an automation's) real runs still waiting, and of
        those job ``job_id`` marked cancelled already (an attempt that ended before it saved its
        count), oldest first within each partition key; the position after the last one given (None
        at the end). An automation's runs are spread over shards (``store.shards``): they are read
        one shard after the other, the position naming the shard. Reads at most ``_MAX_READS``
        index pages past one per shard, so it may give fewer and a position to go on from."""
        if deal_id is not None:
            index, key, values = "by_deal", "deal_key", [f"{tenant_id}#{deal_id}"]
        else:
            index, key, values = _listing(tenant_id, False, automation_id)
        shard = int((start or {}).get("shard", "0"))
        after: dict[str, Any] = {k: v for k, v in (start or {}).items() if k != "shard"}
        if not 0 <= shard <= len(values):
            raise BadStartKey("not a position in this list of runs")
        found: list[dict[str, Any]] = []
        reads = _MAX_READS + len(values)
        while shard < len(values) and reads > 0 and len(found) < limit:
            params: dict[str, Any] = {
                "IndexName": index,
                "KeyConditionExpression": Key(key).eq(values[shard]),
                "FilterExpression": Attr("status").eq("waiting") | Attr(_CANCELLED_BY).eq(job_id),
            }
            if after:
                params["ExclusiveStartKey"] = after
            answer = self._table.query(**params)
            reads -= 1
            items, last = answer.get("Items", []), answer.get("LastEvaluatedKey")
            room = limit - len(found)
            if len(items) > room:  # more than wanted: go on right after the last one taken
                found += items[:room]
                after = {name: found[-1][name] for name in (key, "started_at", "tenant_id", "sk")}
                break
            found += items
            if last is None:
                shard, after = shard + 1, {}
            else:
                after = last
        position = None if shard >= len(values) else {**after, "shard": str(shard)}
        return [_record(i) for i in found], position

    def cancel(self, run: RunRecord, reason: str, job_id: str) -> bool:
        """Mark a waiting run cancelled by ``job_id``; False when its record ended since it was read."""
        ended = run.model_copy(update={"status": "cancelled", "reason": reason, "finished_at": now_iso()})
        try:
            self._table.put_item(
                Item={**self._item(ended), _CANCELLED_BY: job_id},
                ConditionExpression=Attr("status").eq("waiting"),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def all(self, tenant_id: str, test: bool = False) -> list[RunRecord]:
        """Newest first."""
        runs = [_record(i) for i in query_all(self._table, tenant_id, "TEST#" if test else "RUN#")]
        return sorted(runs, key=lambda r: r.started_at, reverse=True)

    def page(
        self,
        tenant_id: str,
        *,
        test: bool = False,
        deal_id: str | None = None,
        automation_id: str | None = None,
        status: str | None = None,
        since: str | None = None,
        reason: str | None = None,
        retried: bool | None = None,
        limit: int = 50,
        start: dict[str, Any] | None = None,
    ) -> tuple[list[RunRecord], dict[str, Any] | None]:
        """One page of runs, newest first, and the position to start the next page from (None at
        the end). Narrowed by deal or automation through their index, and by ``since`` (started at or
        after it) on the index's sort key; what no index covers (status, a ``reason`` that contains
        the text given, whether another run retried it) is filtered, so a page may hold fewer than
        ``limit`` runs and still have a next one. The by-tenant and by-automation lists are read
        over all their shards (``store.shards``)."""
        if deal_id is not None:
            listing = ("by_deal", "deal_key", [f"{_scope(tenant_id, test)}{deal_id}"])
        else:
            listing = _listing(tenant_id, test, automation_id)
        filters = [
            Attr(name).eq(wanted)
            for name, wanted in (("automation_id", automation_id if deal_id is not None else None), ("status", status))
            if wanted is not None
        ]
        if reason is not None:
            filters.append(Attr("reason").contains(reason))
        if retried is not None:
            filters.append(Attr("retried_by").exists() if retried else Attr("retried_by").not_exists())
        scatter = shards.Scatter(self._table, *listing, tenant_id, since=since)
        try:
            items, position = scatter.page(
                limit, start, reduce(and_, filters) if filters else None, extra_reads=_MAX_READS
            )
        except shards.BadPosition as exc:
            raise BadStartKey(str(exc)) from None
        return [_record(i) for i in items], position
