"""The recent deal changes of each tenant, as the dispatcher saw them: what-if replays them.

One item per change in AutomationTable (``tenant_id``, ``sk`` = ``CHANGE#<time>#<n>#<event id>``,
n its place in its stream batch, so a query reads a tenant's newest first), its two images as one
zlib-compressed JSON binary — a typical deal's pair is a few hundred bytes, and nothing of it is
decoded or marshalled attribute by attribute on the dispatcher's path. Bounded three ways: each
item expires after ``RETENTION`` (DynamoDB's TTL, ``expires_at``), at most
``PER_TENANT_PER_BATCH`` changes of one tenant are kept per stream batch (a bulk import does not
flood it), and a pair of images over ``MAX_BYTES`` compressed is not kept. Written with the
dispatcher's other batched writes (``store.batches``: BatchWriteItem, 25 a call) at the end of its
batch; a write that fails is logged and dropped — history is an aid, never a reason to deliver a stream record again."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key

from dealflow.ports import RecordedChange
from dealflow.store.batches import batch_put

logger = logging.getLogger(__name__)

PREFIX = "CHANGE#"
RETENTION = timedelta(days=7)
PER_TENANT_PER_BATCH = 100
MAX_BYTES = 64_000


def _packed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bytes:
    return zlib.compress(json.dumps([old, new], separators=(",", ":")).encode(), 1)


def _unpacked(blob: Any) -> tuple[Any, Any]:
    raw = blob.value if hasattr(blob, "value") else blob  # boto3's resource layer wraps binaries
    old, new = json.loads(zlib.decompress(bytes(raw)))
    return old, new


class ChangeHistoryStore:
    """``ChangeHistory`` on AutomationTable: ``table`` (boto3 resource) reads, ``client`` (a
    low-level client, as the run log's batches use) writes."""

    def __init__(self, table: Any, client: Any = None) -> None:
        self._table = table
        self._client = client
        self._pending: list[dict[str, Any]] = []
        self._counts: dict[str, int] = {}
        self._expiry: tuple[str, int] = ("", 0)

    def keep(self, change: RecordedChange) -> None:
        count = self._counts.get(change.tenant_id, 0)
        if count >= PER_TENANT_PER_BATCH:
            return
        images = _packed(change.old_image, change.new_image)
        if len(images) > MAX_BYTES:
            return
        self._counts[change.tenant_id] = count + 1
        if self._expiry[0] != change.at:  # a batch's changes share their time: worked out once
            self._expiry = (change.at, int((datetime.fromisoformat(change.at) + RETENTION).timestamp()))
        self._pending.append(
            {
                "tenant_id": change.tenant_id,
                # The batch's changes share a time: their order in it keeps them in order.
                "sk": f"{PREFIX}{change.at}#{len(self._pending):04d}#{change.event_id}",
                "deal_id": change.deal_id,
                "images": images,
                "expires_at": self._expiry[1],
            }
        )

    def flush(self) -> int:
        pending, self._pending, self._counts = self._pending, [], {}
        if not pending:
            return 0
        try:
            client = self._client or self._table.meta.client
            unwritten = batch_put(client, self._table.name, pending)
        except Exception:  # history is an aid: a failure to keep it never fails the stream batch
            logger.warning("deal-change history not written (%d changes)", len(pending), exc_info=True)
            return len(pending)
        if unwritten:
            logger.warning("deal-change history: %d of %d changes not written", len(unwritten), len(pending))
        return len(unwritten)

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
                at, _, event_id = item["sk"][len(PREFIX) :].split("#", 2)
                old, new = _unpacked(item["images"])
                found.append(RecordedChange(tenant_id, event_id, str(item["deal_id"]), at, old, new))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found
