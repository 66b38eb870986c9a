"""Many puts in few calls: DynamoDB's BatchWriteItem, within its limits, with what it leaves
unprocessed sent again after a growing pause, as AWS asks.

Sent on a low-level client with the items converted to DynamoDB JSON here, once: through boto3's
resource layer (and botocore's parameter validation) the SDK's side cost about three times as much
CPU per nested run-log entry (bench/README.md, ``handler.py``)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from dealflow.limits import MAX_BATCH_WRITE_ITEMS

logger = logging.getLogger(__name__)

# Sends of one chunk in all (the first and the retries of what came back unprocessed); the pauses
# between them double from BACKOFF_SECONDS, with jitter, so a throttled partition gets air.
ATTEMPTS = 6
BACKOFF_SECONDS = 0.05


def pause(seconds: float) -> None:
    """The wait before sending unprocessed items again."""
    time.sleep(seconds)


def typed(value: Any) -> dict[str, Any]:
    """A plain value (as ``store.items.to_item`` makes them: text, numbers as Decimal or int, bools,
    None, maps and lists) in DynamoDB JSON."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, Mapping):
        return {"M": {k: typed(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [typed(v) for v in value]}
    if value is None:
        return {"NULL": True}
    if isinstance(value, bytes):
        return {"B": value}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def batch_put(
    client: Any,
    table: str,
    items: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str] = ("tenant_id", "sk"),
    sleep: Callable[[float], object] | None = None,
) -> list[dict[str, Any]]:
    """Put ``items`` (plain values; string keys ``keys``) into ``table`` through ``client`` (a
    low-level DynamoDB client) in calls of at most ``MAX_BATCH_WRITE_ITEMS``; returns the items
    still not written after ``ATTEMPTS`` sends (empty when all were). Items with the same key: the
    last one wins, as consecutive puts would (one call refuses duplicate keys). The caller keeps
    each item under 400 KB; 25 such items stay under the call's 16 MB."""
    wait = sleep or pause
    latest = {tuple(item[k] for k in keys): item for item in items}
    pending = list(latest.values())
    unwritten: list[dict[str, Any]] = []
    for start in range(0, len(pending), MAX_BATCH_WRITE_ITEMS):
        chunk = pending[start : start + MAX_BATCH_WRITE_ITEMS]
        requests = [{"PutRequest": {"Item": {k: typed(v) for k, v in item.items()}}} for item in chunk]
        for attempt in range(ATTEMPTS):
            if attempt:
                wait(BACKOFF_SECONDS * 2 ** (attempt - 1) * (0.5 + random.random()))
            try:
                answer = client.batch_write_item(RequestItems={table: requests})
            except ClientError as exc:  # botocore retried throttling already: this chunk is not written
                logger.warning("BatchWriteItem of %d items failed: %s", len(requests), exc)
                break
            requests = answer.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
        for request in requests:
            item = request["PutRequest"]["Item"]
            unwritten.append(latest[tuple(item[k]["S"] for k in keys)])
    return unwritten
