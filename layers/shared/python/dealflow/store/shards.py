"""Write-sharded index keys: a busy tenant's run-log listings spread over ``SHARDS`` partition keys
of an index, and read back newest first by one scatter query over all of them.

A partition serves about 1,000 write units a second, and DynamoDB cannot split one index key whose
sort key (``started_at``) only grows: every new entry lands at the end of the same key, so a split
for heat would leave the heat where it was. Every run rewrites its run-log item a few times, and
every rewrite is written again to each index, so a tenant's single ``tenant#RUN`` key capped it
near 250 runs a second (bench/partitions.py measures it). A run's key now carries a shard chosen
from its run id (``t1#RUN~07``): the same run always lands on the same shard, the shards fill
evenly, and ``~`` is in no id, so a sharded key never equals an unsharded one.

Items written before sharding keep the plain key (the *legacy* key) until ``dealflow migrate
run-keys`` rewrites them; every scatter query reads the legacy key as one more shard, so nothing is
missed before, during or after the migration (an empty legacy key costs one small read).

The scatter merge orders entries by ``started_at`` (newest first), then by shard, then as DynamoDB
orders them within one key. A page's position is one point in that order — the last entry looked
at, as (``started_at``, shard, ``sk``) — so the token stays small however many shards there are:
shards before that point's shard resume strictly older than it, its own shard right after it (as
DynamoDB's ExclusiveStartKey), the later shards at it or older."""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Key

SHARDS = 32
"""Partition keys per sharded listing. Sized by bench/partitions.py: at 2,000 deal changes a second
the hottest shard of the by-tenant index takes well under 1,000 writes a second. Changing it changes
where new entries go: keep old shard keys readable (``keys`` lists them) until they expire."""

_SUFFIX = "~"


class BadPosition(ValueError):
    """A page position that is not one this listing handed out."""


def shard_of(run_id: str) -> int:
    """Which shard a run's entries go to: from its id, so every rewrite of a run lands together."""
    return int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % SHARDS


def sharded(key: str, run_id: str) -> str:
    """The index key a run's entry is written under, from the listing's plain key."""
    return f"{key}{_SUFFIX}{shard_of(run_id):02d}"


def unsharded(value: str) -> str:
    """The plain (legacy) key of a sharded one; a plain key as it is."""
    return value.split(_SUFFIX, 1)[0]


def keys(key: str) -> list[str]:
    """Every partition key the listing ``key`` is spread over: the shards, then the legacy key."""
    return [f"{key}{_SUFFIX}{n:02d}" for n in range(SHARDS)] + [key]


@dataclass
class _Shard:
    n: int
    value: str
    params: dict[str, Any]
    buffer: deque[dict[str, Any]] = field(default_factory=deque)
    # A shard read from before a page's position, with a ``since``: its range has to include the
    # position's start time, so the entries at exactly that time (already answered) are dropped.
    skip_at: str | None = None
    frontier: tuple[str, str] | None = None  # (started_at, sk) of the last entry read, matching or not
    done: bool = False


def _before(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """Newest first: a later start comes first; at the same start, the lower shard."""
    return a[0] > b[0] or (a[0] == b[0] and a[1] < b[1])


class Scatter:
    """One listing over one index: ``key_name`` holds the key, ``started_at`` sorts it."""

    def __init__(
        self, table: Any, index: str, key_name: str, values: list[str], tenant_id: str, since: str | None = None
    ) -> None:
        self._table, self._index, self._key, self._values = table, index, key_name, values
        self._tenant_id, self._since = tenant_id, since

    def _keyed(self, value: str) -> Any:
        """A shard's whole range: its key, and no entry started before ``since``."""
        condition = Key(self._key).eq(value)
        return condition if self._since is None else condition & Key("started_at").gte(self._since)

    def _start(self, n: int, value: str, at: dict[str, Any] | None) -> dict[str, Any]:
        params: dict[str, Any] = {"IndexName": self._index, "ScanIndexForward": False}
        condition = Key(self._key).eq(value)
        if at is None or n == at["shard"]:
            params["KeyConditionExpression"] = self._keyed(value)
        elif self._since is not None:
            # DynamoDB takes one condition on the sort key: a range, inclusive at both ends.
            params["KeyConditionExpression"] = condition & Key("started_at").between(self._since, at["started_at"])
        elif n < at["shard"]:
            params["KeyConditionExpression"] = condition & Key("started_at").lt(at["started_at"])
        else:
            params["KeyConditionExpression"] = condition & Key("started_at").lte(at["started_at"])
        if at is not None and n == at["shard"]:
            params["ExclusiveStartKey"] = {
                self._key: value,
                "started_at": at["started_at"],
                "tenant_id": self._tenant_id,
                "sk": at["sk"],
            }
        return params

    def _checked(self, at: Any) -> dict[str, Any]:
        if (
            not isinstance(at, dict)
            or set(at) != {"started_at", "shard", "sk"}
            or not isinstance(at["started_at"], str)
            or not isinstance(at["sk"], str)
            or not isinstance(at["shard"], int)
            or not 0 <= at["shard"] < len(self._values)
        ):
            raise BadPosition("not a position in this list of runs")
        return at

    def _read(self, shard: _Shard, limit: int, filters: Any) -> None:
        params = dict(shard.params, Limit=limit)
        if filters is not None:
            params["FilterExpression"] = filters
        answer = self._table.query(**params)
        items = answer.get("Items", [])
        shard.buffer.extend(i for i in items if i["started_at"] != shard.skip_at)
        last = answer.get("LastEvaluatedKey")
        if last is None:
            shard.done = True
            return
        shard.frontier = (last["started_at"], last["sk"])
        shard.params = {k: v for k, v in shard.params.items() if k != "KeyConditionExpression"} | {
            "KeyConditionExpression": self._keyed(shard.value),
            "ExclusiveStartKey": last,
        }

    def page(
        self, limit: int, start: Any = None, filters: Any = None, extra_reads: int = 10
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to ``limit`` items newest first, and the position to go on from (None at the end).
        Reads every shard once (a few entries each: the shards fill evenly), then at most one more
        query per shard plus ``extra_reads``: a filtered list that finds few matches may answer
        fewer than ``limit`` items and still have a next page."""
        at = None if start is None else self._checked(start)
        shards = [_Shard(n, v, self._start(n, v, at)) for n, v in enumerate(self._values)]
        if at is not None and self._since is not None:
            for shard in shards[: at["shard"]]:
                shard.skip_at = at["started_at"]
        first = min(limit, math.ceil(limit / len(shards)) + 2)
        for shard in shards:
            self._read(shard, first, filters)
        budget = extra_reads + (len(shards) if len(shards) > 1 else 0)
        found: list[dict[str, Any]] = []
        last: tuple[str, int, str] | None = None
        while len(found) < limit:
            heads = [(s.buffer[0]["started_at"], s.n) for s in shards if s.buffer]
            head = min(heads, key=_Key) if heads else None
            blocking = [
                s
                for s in shards
                if not s.buffer
                and not s.done
                and (head is None or not _before(head, (s.frontier[0] if s.frontier else "\uffff", s.n)))
            ]
            if head is None and not blocking:
                return found, None  # every shard read to its end
            if blocking:
                if budget == 0:
                    return found, self._stopped_at(blocking)
                budget -= 1
                self._read(blocking[0], limit - len(found), filters)
                continue
            assert head is not None
            item = shards[head[1]].buffer.popleft()
            found.append(item)
            last = (item["started_at"], head[1], item["sk"])
        if all(s.done and not s.buffer for s in shards):
            return found, None
        assert last is not None
        return found, {"started_at": last[0], "shard": last[1], "sk": last[2]}

    @staticmethod
    def _stopped_at(blocking: list[_Shard]) -> dict[str, Any]:
        """Where a page cut short by its read budget goes on: the earliest point not yet read past
        in a shard still to read (everything matching before it has been answered)."""
        first = min(blocking, key=lambda s: _Key((s.frontier[0] if s.frontier else "\uffff", s.n)))
        assert first.frontier is not None  # a shard never read has no frontier, but every shard was read once
        return {"started_at": first.frontier[0], "shard": first.n, "sk": first.frontier[1]}

    def everything(self, filters: Any = None) -> Iterator[dict[str, Any]]:
        """Every matching item of every shard, in no particular order (read to the end)."""
        for value in self._values:
            params: dict[str, Any] = {"IndexName": self._index, "KeyConditionExpression": Key(self._key).eq(value)}
            if filters is not None:
                params["FilterExpression"] = filters
            while True:
                answer = self._table.query(**params)
                yield from answer.get("Items", [])
                if "LastEvaluatedKey" not in answer:
                    break
                params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


class _Key:
    """Sorts (started_at, shard) pairs newest first, lower shard first at the same start."""

    __slots__ = ("pair",)

    def __init__(self, pair: tuple[str, int]) -> None:
        self.pair = pair

    def __lt__(self, other: _Key) -> bool:
        return _before(self.pair, other.pair)
