"""Many puts in few calls: DynamoDB's BatchWriteItem, within its limits, with what it leaves
unprocessed sent again after a growing pause, as AWS asks."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
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


def _key(item: dict[str, Any], keys: Sequence[str]) -> tuple[Any, ...]:
    return tuple(item[k] for k in keys)


def batch_put(
    table: Any,
    items: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str] = ("tenant_id", "sk"),
    sleep: Callable[[float], object] | None = None,
) -> list[dict[str, Any]]:
    """Put ``items`` into ``table`` (a boto3 resource Table: plain Python values) in calls of at
    most ``MAX_BATCH_WRITE_ITEMS``; returns the items still not written after ``ATTEMPTS`` sends
    (empty when all were). Items with the same key: the last one wins, as consecutive puts would
    (one call refuses duplicate keys). The caller keeps each item under 400 KB; 25 such items stay
    under the call's 16 MB."""
    wait = sleep or pause
    latest = {_key(item, keys): item for item in items}
    pending = list(latest.values())
    unwritten: list[dict[str, Any]] = []
    client, name = table.meta.client, table.name
    for start in range(0, len(pending), MAX_BATCH_WRITE_ITEMS):
        chunk = pending[start : start + MAX_BATCH_WRITE_ITEMS]
        requests = [{"PutRequest": {"Item": item}} for item in chunk]
        for attempt in range(ATTEMPTS):
            if attempt:
                wait(BACKOFF_SECONDS * 2 ** (attempt - 1) * (0.5 + random.random()))
            try:
                answer = client.batch_write_item(RequestItems={name: requests})
            except ClientError as exc:  # botocore retried throttling already: this chunk is not written
                logger.warning("BatchWriteItem of %d items failed: %s", len(requests), exc)
                break
            requests = answer.get("UnprocessedItems", {}).get(name, [])
            if not requests:
                break
        unwritten += [request["PutRequest"]["Item"] for request in requests]
    return unwritten
