"""The deals stream as AWS keeps it, where moto falls short: retention, shards, OnFailure records.

moto 5.2 serves GetShardIterator AT_SEQUENCE_NUMBER and GetRecords over one shard per table, but
keeps every record forever, answers a shard id it does not have with an AssertionError (a 500 on a
server) rather than ResourceNotFoundException, and a sequence number below its first with another.
DynamoDB Streams trims records 24 hours after their change (TrimmedDataAccessException for an
iterator at a trimmed sequence number; TRIM_HORIZON starts after them). The harness emulates that
on the harness clock: ``StreamHistory`` notes when the pump first saw each record, and moto's
GetShardIterator is wrapped (in this process, for in-process moto and a moto server the harness
started alike) to refuse what is older than the retention. Only harness code changes; the product
reads the stream as it would on AWS.

It also builds the OnFailure record the stream mapping sends when it gives up on a batch, in the
shape Lambda sends (events/dispatcher-on-failure.json): the batch's shard and sequence range.
"""

from __future__ import annotations

import bisect
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodbstreams.models import DynamoDBStreamsBackend

from dealflow.local.clock import ManualClock

RETENTION = timedelta(hours=24)
_ACTIVE: dict[str, StreamHistory] = {}  # stream ARN → the history of the harness that pumps it
_UNPATCHED = DynamoDBStreamsBackend.get_shard_iterator


class StreamHistory:
    """What the pump saw of one stream: each record's shard, and when (on the harness clock)."""

    def __init__(self, stream_arn: str, clock: ManualClock) -> None:
        self.stream_arn, self._clock = stream_arn, clock
        self._sequences: list[int] = []  # in the order seen, which is the shard's order
        self._seen_at: list[datetime] = []
        self._shard_of: dict[str, str] = {}

    def saw(self, shard_id: str, record: dict[str, Any]) -> None:
        sequence = record["dynamodb"]["SequenceNumber"]
        if sequence not in self._shard_of:
            self._shard_of[sequence] = shard_id
            self._sequences.append(int(sequence))
            self._seen_at.append(self._clock.now())

    def shard_of(self, sequence_number: str) -> str:
        return self._shard_of[sequence_number]

    def horizon(self) -> int | None:
        """The first sequence number not yet trimmed, when some are."""
        oldest_kept = self._clock.now() - RETENTION
        trimmed = bisect.bisect_left(self._seen_at, oldest_kept)
        if trimmed == 0:
            return None
        return self._sequences[trimmed] if trimmed < len(self._sequences) else self._sequences[-1] + 1

    def __enter__(self) -> StreamHistory:
        _install()
        _ACTIVE[self.stream_arn] = self
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.pop(self.stream_arn, None)


class _StreamError(JsonRESTError):
    pass


def _get_shard_iterator(
    self: DynamoDBStreamsBackend, arn: str, shard_id: str, shard_iterator_type: str, sequence_number: Any = None
) -> Any:
    table = self._get_table_from_arn(arn)
    if table.stream_shard is None or table.stream_shard.id != shard_id:
        raise _StreamError("ResourceNotFoundException", f"Requested resource not found: Shard: {shard_id} in {arn}")
    history = _ACTIVE.get(arn)
    horizon = history.horizon() if history is not None else None
    first = table.stream_shard.starting_sequence_number
    if shard_iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if int(sequence_number) < max(horizon or first, first):
            raise _StreamError(
                "TrimmedDataAccessException",
                f"The operation attempted to read past the oldest stream record in a shard: {sequence_number}",
            )
    elif shard_iterator_type == "TRIM_HORIZON" and horizon is not None:
        # moto annotates the sequence number as text, but its response layer hands it an int.
        return _UNPATCHED(self, arn, shard_id, "AT_SEQUENCE_NUMBER", horizon)  # type: ignore[arg-type]
    return _UNPATCHED(self, arn, shard_id, shard_iterator_type, sequence_number)


def _install() -> None:
    DynamoDBStreamsBackend.get_shard_iterator = _get_shard_iterator  # type: ignore[method-assign]


def on_failure_record(
    records: list[dict[str, Any]],
    shard_id: str,
    stream_arn: str,
    *,
    function_arn: str,
    invocations: int,
    condition: str = "RetryAttemptsExhausted",
) -> dict[str, Any]:
    """What the stream mapping's OnFailure destination receives for a batch of Lambda-shaped
    records it gave up on: where they are, not the records."""

    def arrival(record: dict[str, Any]) -> str:
        created = record["dynamodb"].get("ApproximateCreationDateTime") or 0
        return datetime.fromtimestamp(float(created), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    first, last = records[0], records[-1]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invocations,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": arrival(first),
            "approximateArrivalOfLastRecord": arrival(last),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
