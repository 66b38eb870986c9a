"""The run log: one item per run, kept for a year (DynamoDB TTL), queryable per deal."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import reduce
from operator import and_
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from dealflow.clock import now_iso
from dealflow.model import RunRecord, RunStep
from dealflow.model.base import stored
from dealflow.store.items import is_conditional_failure, plain, query_all, to_item

RUN_RETENTION = timedelta(days=365)
_CANCELLED_BY = "cancelled_by"  # the cancellation job that marked a run: its retry counts the run once
_STORAGE_KEYS = ("sk", "deal_key", "automation_key", "log_key", "expires_at", _CANCELLED_BY)
# A page of a filtered list reads at most this many index pages, so one request stays short even when
# few runs match; the caller goes on with the token.
_MAX_READS = 10
_OPEN = ("running", "waiting")  # every other status is how a run ended
# DynamoDB refuses an item over 400 KB; a run's record is kept well under it (names, keys and
# number encodings are not counted exactly here), trimming the oldest steps' details first.
MAX_ITEM_BYTES = 400 * 1024
_FIT_BYTES = 300 * 1024
_KEPT_AT_ENDS = 20


def item_bytes(item: dict[str, Any]) -> int:
    """About what DynamoDB counts for an item: its names and values as UTF-8."""
    return len(json.dumps(item, default=str, ensure_ascii=False, separators=(",", ":")).encode())


def _trimmed(step: RunStep) -> RunStep:
    return step.model_copy(update={"detail": {"trimmed": "detail dropped: the run log keeps one item per run"}})


def _measure(value: Any) -> int:
    return item_bytes(value.model_dump(mode="json"))


def fitted(record: RunRecord) -> RunRecord:
    """The record as it fits one item: the oldest steps' details dropped first, then, for a run of
    thousands of steps, the steps between its first and last few replaced by a note saying so.
    Each step is measured once; the record's size is their sum plus the rest of it."""
    sizes = [_measure(step) for step in record.steps]
    total = _measure(record.model_copy(update={"steps": []})) + sum(sizes) + len(sizes)  # commas
    if total <= _FIT_BYTES:
        return record
    steps = list(record.steps)
    for i in range(len(steps) - 1):  # the last step says how the run ended: it stays whole
        steps[i] = _trimmed(steps[i])
        trimmed = _measure(steps[i])
        total, sizes[i] = total - sizes[i] + trimmed, trimmed
        if total <= _FIT_BYTES:
            return record.model_copy(update={"steps": steps})
    if len(steps) > 2 * _KEPT_AT_ENDS:
        dropped = len(steps) - 2 * _KEPT_AT_ENDS
        note = RunStep(name="…", kind="check", outcome=f"{dropped} steps not kept in the run log")
        steps = [*steps[:_KEPT_AT_ENDS], note, *steps[-_KEPT_AT_ENDS:]]
    shorter = record.model_copy(update={"steps": steps})
    if _measure(shorter) <= _FIT_BYTES:
        return shorter
    return shorter.model_copy(update={"steps": [_trimmed(s) for s in steps]})


def _sk(run: RunRecord | str, test: bool = False) -> str:
    run_id = run if isinstance(run, str) else run.run_id
    return f"{'TEST' if test else 'RUN'}#{run_id}"


def _scope(tenant_id: str, test: bool) -> str:
    # Test runs have index keys of their own ('#' is in no id), so they never show up as something
    # that happened to a deal, and are still found by deal and by automation among test runs.
    return f"{tenant_id}#TEST#" if test else f"{tenant_id}#"


def _log_key(tenant_id: str, test: bool) -> str:
    return f"{tenant_id}#{'TEST' if test else 'RUN'}"


class BadStartKey(ValueError):
    """A page's start key that is not one this log handed out for the same list."""


def _record(item: dict[str, Any]) -> RunRecord:
    return stored(RunRecord, plain(item, *_STORAGE_KEYS))


class RunLog:
    """Real runs under ``RUN#``, indexed by deal and by automation; test runs under ``TEST#``,
    kept apart so they never show up as something that happened to a deal."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def _item(self, record: RunRecord) -> dict[str, Any]:
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
            "automation_key": f"{scope}{record.automation_id}",
            "log_key": _log_key(record.tenant_id, record.test),
        }
        return to_item(record, **keys)

    def write(self, record: RunRecord) -> None:
        self._table.put_item(Item=self._item(record))

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

    def get(self, tenant_id: str, run_id: str, test: bool = False) -> RunRecord | None:
        item = self._table.get_item(Key={"tenant_id": tenant_id, "sk": _sk(run_id, test)}).get("Item")
        return None if item is None else _record(item)

    def _by(self, index: str, key: str, value: str, limit: int) -> list[RunRecord]:
        page = self._table.query(
            IndexName=index, ScanIndexForward=False, Limit=limit, KeyConditionExpression=Key(key).eq(value)
        )
        return [_record(i) for i in page.get("Items", [])]

    def for_deal(self, tenant_id: str, deal_id: str, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        return self._by("by_deal", "deal_key", f"{tenant_id}#{deal_id}", limit)

    def for_automation(self, tenant_id: str, automation_id: str, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        return self._by("by_automation", "automation_key", f"{tenant_id}#{automation_id}", limit)

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
        """At most ``limit`` runs, oldest first, of a deal's (or an automation's) real runs still
        waiting, and of those job ``job_id`` marked cancelled already (an attempt that ended before
        it saved its count); the position after the last one given (None at the end). Reads at
        most ``_MAX_READS`` index pages, so it may give fewer and a position to go on from."""
        index, key, value = (
            ("by_deal", "deal_key", f"{tenant_id}#{deal_id}")
            if deal_id is not None
            else ("by_automation", "automation_key", f"{tenant_id}#{automation_id}")
        )
        params: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": Key(key).eq(value),
            "FilterExpression": Attr("status").eq("waiting") | Attr(_CANCELLED_BY).eq(job_id),
        }
        if start is not None:
            params["ExclusiveStartKey"] = start
        found: list[dict[str, Any]] = []
        after: dict[str, str] | None = None
        for _ in range(_MAX_READS):
            answer = self._table.query(**params)
            items, after = answer.get("Items", []), answer.get("LastEvaluatedKey")
            room = limit - len(found)
            if len(items) > room:  # more than wanted: go on right after the last one taken
                found += items[:room]
                after = {name: found[-1][name] for name in (key, "started_at", "tenant_id", "sk")}
                break
            found += items
            if after is None or len(found) == limit:
                break
            params["ExclusiveStartKey"] = after
        return [_record(i) for i in found], after

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
        limit: int = 50,
        start: dict[str, Any] | None = None,
    ) -> tuple[list[RunRecord], dict[str, Any] | None]:
        """One page of runs, newest first, and the key to start the next page from (None at the
        end). Narrowed by deal or automation through their index; what no index covers is
        filtered, so a page may hold fewer than ``limit`` runs and still have a next one."""
        if deal_id is not None:
            index, key, value = "by_deal", "deal_key", f"{_scope(tenant_id, test)}{deal_id}"
        elif automation_id is not None:
            index, key, value = "by_automation", "automation_key", f"{_scope(tenant_id, test)}{automation_id}"
        else:
            index, key, value = "by_tenant", "log_key", _log_key(tenant_id, test)
        filters = [
            Attr(name).eq(wanted)
            for name, wanted in (("automation_id", automation_id if deal_id is not None else None), ("status", status))
            if wanted is not None
        ]
        params: dict[str, Any] = {
            "IndexName": index,
            "ScanIndexForward": False,
            "KeyConditionExpression": Key(key).eq(value),
        }
        if filters:
            params["FilterExpression"] = reduce(and_, filters)
        if start is not None:
            params["ExclusiveStartKey"] = _checked(start, key, value, tenant_id)
        found: list[RunRecord] = []
        for _ in range(_MAX_READS):
            # Never more than the page still needs, so the last key read is where the next page starts.
            answer = self._table.query(**params, Limit=limit - len(found))
            found += [_record(i) for i in answer.get("Items", [])]
            last = answer.get("LastEvaluatedKey")
            if last is None or len(found) >= limit:
                return found, last
            params["ExclusiveStartKey"] = last
        return found, last


def _checked(start: dict[str, Any], key: str, value: str, tenant_id: str) -> dict[str, Any]:
    """A start key must be one of this list's own: another tenant's or another list's is refused
    rather than handed to DynamoDB."""
    expected = {key, "started_at", "tenant_id", "sk"}
    if (
        not isinstance(start, dict)
        or set(start) != expected
        or not all(isinstance(v, str) for v in start.values())
        or start[key] != value
        or start["tenant_id"] != tenant_id
    ):
        raise BadStartKey("not a position in this list of runs")
    return start
