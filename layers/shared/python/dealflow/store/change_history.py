"""The recent deal changes of each tenant, as the dispatcher saw them: what-if replays them.

A tenant's changes of one stream batch are one item in AutomationTable (``tenant_id``, ``sk`` =
``CHANGE#<time>#<part>#<first event id>``, so a query reads a tenant's newest batches first),
holding the list of its changes — event id, deal id and both images as the stream gave them — as
one zlib-compressed JSON binary, ``changes``. Per record the dispatcher only hands over the images
it already holds (``keep``); they are encoded and compressed once per tenant at the end of the
batch (``flush``), and written in one BatchWriteItem call with the other tenants' items: the
per-change items this replaces cost the dispatcher an encoding, a compression and an item each,
and four calls a batch (bench/README.md, "Session 6, handler per record").

Bounded four ways: each item expires after ``RETENTION`` (DynamoDB's TTL, ``expires_at``), at most
``PER_TENANT_PER_BATCH`` changes of one tenant are kept per stream batch (a bulk import does not
flood it), a change over ``MAX_BYTES`` (its JSON, and again compressed) is not kept, and one item
holds at most ``ITEM_BYTES`` compressed — more of one tenant's batch is split over several items,
so an item stays under DynamoDB's 400 KB. A write that fails is logged and dropped: history is an
aid, never a reason to deliver a stream record again."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key

from dealflow.limits import MAX_BATCH_WRITE_BYTES, MAX_BATCH_WRITE_ITEMS, MAX_ITEM_BYTES
from dealflow.ports import RecordedChange
from dealflow.store.batches import batch_put

logger = logging.getLogger(__name__)

PREFIX = "CHANGE#"
RETENTION = timedelta(days=7)
PER_TENANT_PER_BATCH = 100
MAX_BYTES = 64_000
# The compressed changes of one item; with its keys (under 300 bytes: a tenant id, a time and an
# event id) well under DynamoDB's item limit, and a call's 25 such items under BatchWriteItem's.
ITEM_BYTES = 350_000
assert ITEM_BYTES + 1_000 < MAX_ITEM_BYTES
assert (ITEM_BYTES + 1_000) * MAX_BATCH_WRITE_ITEMS < MAX_BATCH_WRITE_BYTES

# ASCII only: a change's length is its bytes. No cycle check: stream images are parsed JSON, trees.
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _compressed(raw: bytes) -> bytes:
    return zlib.compress(raw, 1)


def _entry(change: RecordedChange) -> str | None:
    """One change as JSON, or None when it is too large to keep."""
    entry = _encode([change.event_id, change.deal_id, change.old_image, change.new_image])
    if len(entry) > MAX_BYTES and len(_compressed(entry.encode())) > MAX_BYTES:
        return None
    return entry


def _parts(entries: Sequence[tuple[str, str]]) -> Iterator[tuple[Sequence[tuple[str, str]], bytes]]:
    """The entries (event id and JSON, oldest first) compressed as few lists as keep each under
    ``ITEM_BYTES``: one list, unless a bulk of large deals passes it, then halves of it."""
    blob = _compressed(f"[{','.join(entry for _, entry in entries)}]".encode())
    if len(blob) <= ITEM_BYTES or len(entries) == 1:  # one entry is at most MAX_BYTES compressed
        yield entries, blob
        return
    middle = len(entries) // 2
    yield from _parts(entries[:middle])
    yield from _parts(entries[middle:])


def _bytes_of(blob: Any) -> bytes:
    return bytes(blob.value if hasattr(blob, "value") else blob)  # boto3's resource layer wraps binaries


def _changes(tenant_id: str, item: Mapping[str, Any]) -> list[RecordedChange]:
    """An item's changes, newest first. Items of the layout before (one change each, ``images``
    and ``deal_id``; ``sk`` ``CHANGE#<time>#<n>#<event id>``) are still read: they stay in tables
    until their TTL, 7 days after the deploy that brought this layout, and can then be forgotten."""
    at, _, rest = item["sk"][len(PREFIX) :].partition("#")
    if "changes" not in item:
        old, new = json.loads(zlib.decompress(_bytes_of(item["images"])))
        return [RecordedChange(tenant_id, rest.partition("#")[2], str(item["deal_id"]), at, old, new)]
    return [
        RecordedChange(tenant_id, event_id, deal_id, at, old, new)
        for event_id, deal_id, old, new in reversed(json.loads(zlib.decompress(_bytes_of(item["changes"]))))
    ]


class ChangeHistoryStore:
    """``ChangeHistory`` on AutomationTable: ``table`` (boto3 resource) reads, ``client`` (a
    low-level client, as the run log's batches use) writes."""

    def __init__(self, table: Any, client: Any = None) -> None:
        self._table = table
        self._client = client
        # Per (tenant, time kept): the changes, in the batch's order, until ``flush``.
        self._pending: dict[tuple[str, str], list[RecordedChange]] = {}

    def keep(self, change: RecordedChange) -> None:
        kept = self._pending.setdefault((change.tenant_id, change.at), [])
        if len(kept) < PER_TENANT_PER_BATCH:
            kept.append(change)

    def _items(self, pending: dict[tuple[str, str], list[RecordedChange]]) -> list[tuple[dict[str, Any], int]]:
        """The items to write, each with how many changes it holds."""
        items: list[tuple[dict[str, Any], int]] = []
        expiry: dict[str, int] = {}  # a batch's changes share their time: worked out once
        for (tenant_id, at), changes in pending.items():
            entries = [(c.event_id, e) for c in changes if (e := _entry(c)) is not None]
            if not entries:
                continue
            if at not in expiry:
                expiry[at] = int((datetime.fromisoformat(at) + RETENTION).timestamp())
            for part, (held, blob) in enumerate(_parts(entries)):
                item = {
                    "tenant_id": tenant_id,
                    "sk": f"{PREFIX}{at}#{part:02d}#{held[0][0]}",
                    "changes": blob,
                    "expires_at": expiry[at],
                }
                items.append((item, len(held)))
        return items

    def flush(self) -> int:
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        count = sum(len(changes) for changes in pending.values())
        try:
            items = self._items(pending)
            client = self._client or self._table.meta.client
            unwritten = batch_put(client, self._table.name, [item for item, _ in items])
        except Exception:  # history is an aid: a failure to keep it never fails the stream batch
            logger.warning("deal-change history not written (%d changes)", count, exc_info=True)
            return count
        if not unwritten:
            return 0
        held = {(item["tenant_id"], item["sk"]): n for item, n in items}
        lost = sum(held[item["tenant_id"], item["sk"]] for item in unwritten)
        logger.warning("deal-change history: %d of %d changes not written", lost, count)
        return lost

    def recent(self, tenant_id: str, limit: int, since: str | None = None) -> list[RecordedChange]:
        low = f"{PREFIX}{since}" if since else PREFIX
        condition = Key("tenant_id").eq(tenant_id) & Key("sk").between(low, PREFIX + "\uffff")
        found: list[RecordedChange] = []
        now = datetime.now(UTC).timestamp()
        query: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": False}
        while len(found) < limit:
            page = self._table.query(**query, Limit=limit - len(found))
            for item in page.get("Items", []):
                if int(item.get("expires_at", now + 1)) <= now:
                    continue  # expired, not yet swept by DynamoDB's TTL
                found += _changes(tenant_id, item)
                if len(found) >= limit:
                    return found[:limit]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found
