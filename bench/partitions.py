"""The hottest partition key of every table and index when one tenant changes 2,000 deals a second.

A DynamoDB partition serves about 1,000 write units a second. This bench finds what one busy
tenant asks of its hottest key, in today's layout and in the write-sharded one, from what the code
really writes rather than from a hand count:

1. the workload's tenant (``bench/workload.py``: ``--rules`` stage rules over 20 pipelines x 10
   stages, mixed conditions) is stored on in-process moto (``MotoStack``), its deals as they stand
   before the stream begins;
2. ``--changes`` of the workload's deal changes are written through the deal store as a person's
   edits are, the stream is pumped into the real dispatcher handler (``plan_record`` decides which
   runs start), and every run is executed by the real runner in process (durable testing SDK);
3. every DynamoDB write in the process is recorded at the botocore level (a ``before-call`` /
   ``after-call`` hook on every client) with the item before and after it, read from moto;
4. each write is billed as DynamoDB documents it: on the table 1 WCU per started KB of the larger
   of the item before and after; on each global secondary index (all project ALL) 1 write of the
   item's size when an entry is added, changed or removed, 2 (a delete and a put) when the write
   changes the entry's index key;
5. writes per key are scaled from the simulated changes to ``--rate`` changes a second, for the
   key values the code wrote (sharded) and for the same writes under today's single keys
   (``store.shards.unsharded``).

Run from the repository root:  python bench/partitions.py [--changes N] [--rate N] [--rules N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botocore.handlers import BUILTIN_HANDLERS

from bench.handler import _seed
from bench.workload import Workload, build
from dealflow.local.stack import MotoStack
from dealflow.store import shards
from dealflow.store.items import to_item

WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
PARTITION_WCU = 1_000  # write units a second one partition serves
KB = 1024
# Index keys whose sort key (started_at) only grows: DynamoDB cannot split such a key for heat.
GROWING_SORT_KEYS = {"started_at"}


@dataclass(frozen=True)
class Version:
    """One item as it stood before or after a write: its attributes' plain values (keys only) and size."""

    keys: dict[str, str]
    size: int


@dataclass(frozen=True)
class Write:
    table: str
    before: Version | None
    after: Version | None
    failed: bool


class WriteMeter:
    """Every DynamoDB write any client of this process makes, with the item before and after it
    (read straight from moto's tables, so nothing is called through botocore twice)."""

    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.on = False

    def install(self) -> None:
        """Hook clients made from now on (boto3 sessions copy botocore's built-in handlers)."""
        BUILTIN_HANDLERS.append(("before-call.dynamodb", self._before))
        BUILTIN_HANDLERS.append(("after-call.dynamodb", self._after))

    def uninstall(self) -> None:
        BUILTIN_HANDLERS.remove(("before-call.dynamodb", self._before))
        BUILTIN_HANDLERS.remove(("after-call.dynamodb", self._after))

    @staticmethod
    def _table(name: str) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        for region in ("eu-west-1", "us-east-1"):
            backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
            if name in backend.tables:
                return backend.tables[name]
        raise KeyError(name)

    def _version(self, name: str, key: dict[str, Any]) -> Version | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self._table(name)
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(hash_key, range_key)
        if item is None:
            return None
        keys = {n: v.value for n, v in item.attrs.items() if v.type in ("S", "N") and isinstance(v.value, str)}
        return Version(keys=keys, size=item.size())

    def _targets(self, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            yield params["TableName"], params.get("Key") or self._key(params["TableName"], params["Item"])
        elif operation == "BatchWriteItem":
            for name, requests in params["RequestItems"].items():
                for request in requests:
                    put, delete = request.get("PutRequest"), request.get("DeleteRequest")
                    yield name, delete["Key"] if delete else self._key(name, put["Item"])
        else:
            for entry in params["TransactItems"]:
                for kind in ("Put", "Update", "Delete"):
                    if kind in entry:
                        part = entry[kind]
                        yield part["TableName"], part.get("Key") or self._key(part["TableName"], part["Item"])

    def _key(self, name: str, item: dict[str, Any]) -> dict[str, Any]:
        table = self._table(name)
        return {attr: item[attr] for attr in (table.hash_key_attr, table.range_key_attr) if attr}

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not self.on or model.name not in WRITE_OPERATIONS:
            return
        body = params["body"]  # the request as sent: DynamoDB JSON, typed as moto stores it
        targets = list(self._targets(model.name, json.loads(body.decode() if isinstance(body, bytes) else body)))
        context["partitions_bench"] = [(name, key, self._version(name, key)) for name, key in targets]

    def _after(self, context: dict[str, Any], parsed: dict[str, Any], **_: Any) -> None:
        pending = context.pop("partitions_bench", None)
        if not pending:
            return
        failed = "Error" in parsed
        for name, key, before in pending:
            self.writes.append(Write(name, before, self._version(name, key), failed))


@dataclass(frozen=True)
class Index:
    table: str
    name: str | None  # None: the table itself
    hash_key: str
    range_key: str | None

    @property
    def label(self) -> str:
        return self.table if self.name is None else f"{self.table} {self.name}"

    @property
    def splittable(self) -> bool:
        """Split for heat can spread one key's writes over several partitions by sort key, unless
        the sort key only grows (each new write lands after the last one). No table has an LSI."""
        return self.range_key not in GROWING_SORT_KEYS


def indexes(meter: WriteMeter, tables: list[str]) -> list[Index]:
    found = []
    for name in tables:
        table = meter._table(name)
        found.append(Index(name, None, table.hash_key_attr, table.range_key_attr))
        for index in table.global_indexes:
            schema = {k["KeyType"]: k["AttributeName"] for k in index.schema}
            found.append(Index(name, index.name, schema["HASH"], schema.get("RANGE")))
    return found


def _units(size: int) -> int:
    return max(1, math.ceil(size / KB))


Layout = Callable[[str, str], str]  # (key attribute, value as written) -> partition key value


def today(attribute: str, value: str) -> str:
    return shards.unsharded(value) if attribute in ("log_key", "automation_key") else value


def sharded(attribute: str, value: str) -> str:
    return value


def billed(writes: list[Write], index: Index, layout: Layout) -> Counter[str]:
    """Write units per partition key value of one table or index."""
    units: Counter[str] = Counter()

    def entry(version: Version | None) -> tuple[str, str] | None:
        if version is None or index.hash_key not in version.keys:
            return None
        if index.range_key and index.range_key not in version.keys:
            return None  # a sparse index: the item is not in it
        return layout(index.hash_key, version.keys[index.hash_key]), version.keys.get(index.range_key or "", "")

    for write in writes:
        if write.table != index.table:
            continue
        old, new = entry(write.before), entry(write.after)
        if index.name is None:
            key = (new or old or ("?", ""))[0]
            sizes = [v.size for v in (write.before, write.after) if v is not None] or [0]
            units[key] += _units(max(sizes))
            continue
        if write.failed or write.before == write.after:
            continue
        if old is not None and new is not None and old != new:
            units[old[0]] += _units(write.before.size if write.before else 0)  # delete the old entry
            units[new[0]] += _units(write.after.size if write.after else 0)  # put the new one
        elif new is not None:
            units[new[0]] += _units(write.after.size if write.after else 0)
        elif old is not None:
            units[old[0]] += _units(write.before.size if write.before else 0)
    return units


@dataclass
class Simulation:
    changes: int
    runs: int
    writes: list[Write]
    indexes: list[Index]


@contextmanager
def metered() -> Iterator[WriteMeter]:
    meter = WriteMeter()
    meter.install()
    try:
        yield meter
    finally:
        meter.uninstall()


def _existing_deals(workload: Workload) -> list[Any]:
    """Each deal as it stood before the stream's first change of it."""
    first: dict[str, Any] = {}
    for old, new in workload.edits:
        if new.id not in first:
            first[new.id] = old
    return [deal for deal in first.values() if deal is not None]


def simulate(changes: int, rules: int, seed: int) -> Simulation:
    workload = build(records=changes, rules=rules, seed=seed)
    with metered() as meter, MotoStack() as stack:
        _seed(stack, workload)
        deals = stack.deals._table
        for deal in _existing_deals(workload):
            deals.put_item(Item=to_item(deal.model_copy(update={"version": 1})))
        while stack._pump.poll():  # the deals as they stood: read off the stream, not dispatched
            pass
        meter.on = True
        started = 0
        for n, (old, new) in enumerate(workload.edits):
            if old is None:
                stack.deals.create(new)
            else:
                current = stack.deals.require(new.tenant_id, new.id)
                stack.deals.save(new.model_copy(update={"version": current.version}))
            if n % 5 == 4:  # a few changes' runs at a time: they settle within the harness's patience
                started += stack.drain().runs_started
        started += stack.drain().runs_started
        meter.on = False
        tables = sorted({w.table for w in meter.writes})
        return Simulation(changes, started, meter.writes, indexes(meter, tables))


def hottest(simulation: Simulation, rate: float, layout: Layout) -> list[tuple[Index, str, float, int]]:
    scale = rate / simulation.changes
    rows = []
    for index in simulation.indexes:
        units = billed(simulation.writes, index, layout)
        if not units:
            continue
        key, most = units.most_common(1)[0]
        rows.append((index, key, most * scale, len(units)))
    return rows


def report(simulation: Simulation, rate: float) -> str:
    per_table = Counter(w.table for w in simulation.writes)
    lines = [
        f"{simulation.changes} deal changes simulated, {simulation.runs} runs started "
        f"({simulation.runs / simulation.changes:.2f} per change); scaled to {rate:,.0f} changes a second",
        "DynamoDB write calls: " + ", ".join(f"{t} {n}" for t, n in sorted(per_table.items())),
        f"a partition serves ~{PARTITION_WCU:,} WCU/s; split for heat cannot split a key whose sort key only grows",
        "",
        f"{'table / index':<30} {'layout':<8} {'hottest key':<28} {'WCU/s':>9} {'keys':>6}  split for heat",
    ]
    for name, layout in (("today", today), ("sharded", sharded)):
        for index, key, per_second, count in hottest(simulation, rate, layout):
            verdict = "can help (sort key spread, no LSI)" if index.splittable else "cannot help (sort key grows)"
            flag = "" if index.splittable or per_second < PARTITION_WCU else "  << over a partition"
            lines.append(f"{index.label:<30} {name:<8} {key[:28]:<28} {per_second:>9,.0f} {count:>6}  {verdict}{flag}")
        lines.append("")
    return "\n".join(lines).rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=100, help="deal changes simulated (default 100)")
    parser.add_argument("--rate", type=float, default=2000, help="deal changes a second to scale to (default 2000)")
    parser.add_argument("--rules", type=int, default=1000, help="stage rules of the tenant (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(report(simulate(args.changes, args.rules, args.seed), args.rate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
