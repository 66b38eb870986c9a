"""Many puts in few calls: DynamoDB's BatchWriteItem, within its limits, with what it leaves
unprocessed sent again after a growing pause, as AWS asks.

Sent on a low-level client with the items converted to DynamoDB JSON here, once: through boto3's
resource layer (and botocore's parameter validation) the SDK's side cost about three times as much
CPU per nested run-log entry (bench/README.md, ``handler.py``). The request's body is encoded here
too, in one ``json.dumps``, and handed to botocore in place of the body its serializer would build
by walking every nested attribute value in Python: the same JSON (binaries base64, as botocore
sends them), for about half the SDK's CPU of a batch of run-log entries (bench/README.md,
"Session 6, handler per record"). botocore still resolves the endpoint, signs, sends, retries and
parses the answer; what it serializes is a placeholder naming the table, so whatever looks at the
call's parameters (the IAM contract, endpoint rules) sees the table written to."""

from __future__ import annotations

import base64
import json
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


# A parameter botocore never sees: the encoded body, taken out before botocore builds the request
# and put in once it has (two handlers on the client's own events, registered once per client).
_BODY = "DealflowEncodedBody"
# What botocore serializes instead: one well-formed empty put, valid where a client validates.
_PLACEHOLDER: list[dict[str, Any]] = [{"PutRequest": {"Item": {}}}]


def _take_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    body = params.pop(_BODY, None)
    if body is not None:
        context[_BODY] = body


def _put_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    body = context.pop(_BODY, None)
    if body is not None:
        params["body"] = body


def _binary(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()  # as botocore's serializer sends a B value
    raise TypeError(f"no JSON for {type(value).__name__}")


# No cycle check: the requests are trees built by ``typed`` (it costs a tenth of the encoding).
_encode = json.JSONEncoder(separators=(",", ":"), default=_binary, check_circular=False).encode


def _writer(client: Any, table: str) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """One BatchWriteItem of ``table`` on ``client``, its body encoded here (on a botocore client;
    a test's fake client is called with the requests)."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None:
        return lambda requests: client.batch_write_item(RequestItems={table: requests})
    events.register_first("before-parameter-build.dynamodb.BatchWriteItem", _take_body, unique_id=f"{_BODY}-take")
    events.register_first("before-call.dynamodb.BatchWriteItem", _put_body, unique_id=f"{_BODY}-put")

    def write(requests: list[dict[str, Any]]) -> dict[str, Any]:
        body = _encode({"RequestItems": {table: requests}})
        return client.batch_write_item(RequestItems={table: _PLACEHOLDER}, **{_BODY: body.encode()})

    return write


def typed(value: Any) -> dict[str, Any]:
    """A plain value (as ``store.items.to_item`` makes them: text, numbers as Decimal or int, bools,
    None, maps and lists) in DynamoDB JSON."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is dict:  # the exact types first: most values of a run-log entry are text and maps
        return {"M": {k: typed(v) for k, v in value.items()}}
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
    write = _writer(client, table)
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
                answer = write(requests)
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
