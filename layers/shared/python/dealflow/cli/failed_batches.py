"""What the dispatcher's failure queue holds, and reading its records back from the stream.

When the stream mapping gives up on a batch, Lambda's OnFailure destination receives a record that
names the batch — stream, shard, first and last sequence number, size, arrival times — and not its
records (events/dispatcher-on-failure.json). The records stay in the stream for 24 hours from
their change; after that DynamoDB Streams trims them, and a shard closed for more than 24 hours is
deleted. So a batch is read back with GetShardIterator AT_SEQUENCE_NUMBER and GetRecords until
past its last sequence number, and what can no longer be read is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

BATCH_INFO = "DDBStreamBatchInfo"
PAGE = 1000  # GetRecords' largest page
EMPTY_PAGES = 3  # an open shard answers empty pages at its end: stop after a few in a row
RETENTION = "past the stream's 24-hour retention"


class Malformed(ValueError):
    """A message that is not an OnFailure record of the deals table's stream."""


@dataclass(frozen=True)
class FailedBatch:
    stream_arn: str
    shard_id: str
    start: str
    end: str
    size: int
    first_arrival: str | None = None
    last_arrival: str | None = None
    condition: str | None = None  # RetryAttemptsExhausted, RecordAgeExceeded, …

    def covers(self, sequence_number: str) -> bool:
        return int(self.start) <= int(sequence_number) <= int(self.end)

    def as_json(self) -> dict[str, Any]:
        return {
            "stream_arn": self.stream_arn,
            "shard_id": self.shard_id,
            "start_sequence_number": self.start,
            "end_sequence_number": self.end,
            "batch_size": self.size,
            "approximate_arrival_of_first_record": self.first_arrival,
            "approximate_arrival_of_last_record": self.last_arrival,
            "condition": self.condition,
        }


def _table_of(stream_arn: str) -> str | None:
    # arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL
    resource = stream_arn.split(":", 5)[5] if stream_arn.count(":") >= 5 else ""
    parts = resource.split("/")
    return parts[1] if len(parts) == 4 and parts[0] == "table" and parts[2] == "stream" else None


def parse_failure(body: str, deals_table: str) -> FailedBatch:
    """The batch an OnFailure message names; ``Malformed`` says why a message is not one of the
    deals table's."""
    try:
        message = json.loads(body)
    except ValueError:
        raise Malformed("not JSON") from None
    info = message.get(BATCH_INFO) if isinstance(message, dict) else None
    if not isinstance(info, dict):
        raise Malformed(f"no {BATCH_INFO}: not an OnFailure record of a DynamoDB stream")
    missing = [k for k in ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber") if not info.get(k)]
    if missing:
        raise Malformed(f"{BATCH_INFO} lacks {', '.join(missing)}")
    start, end = str(info["startSequenceNumber"]), str(info["endSequenceNumber"])
    if not all(n.isdigit() and 21 <= len(n) <= 40 for n in (start, end)):  # as DynamoDB Streams makes them
        raise Malformed(f"sequence numbers {start}–{end} are not a stream's (21 to 40 digits)")
    if int(start) > int(end):
        raise Malformed(f"sequence numbers {start}–{end} are not a range")
    table = _table_of(str(info["streamArn"]))
    if table != deals_table:
        raise Malformed(f"{info['streamArn']} is not a stream of the deals table ({deals_table})")
    try:
        size = int(info.get("batchSize") or 1)
    except (TypeError, ValueError):
        raise Malformed(f"batchSize {info.get('batchSize')!r} is not a number") from None
    context = message.get("requestContext")
    return FailedBatch(
        stream_arn=str(info["streamArn"]),
        shard_id=str(info["shardId"]),
        start=start,
        end=end,
        size=max(size, 1),
        first_arrival=info.get("approximateArrivalOfFirstRecord"),
        last_arrival=info.get("approximateArrivalOfLastRecord"),
        condition=context.get("condition") if isinstance(context, dict) else None,
    )


@dataclass
class BatchRecords:
    """A batch as the stream still holds it: its records (as GetRecords returns them, in order)
    and how many of it are gone, and why."""

    records: list[dict[str, Any]] = field(default_factory=list)
    lost: int = 0
    why_lost: str | None = None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def read_batch(streams: Any, batch: FailedBatch) -> BatchRecords:
    """The records of ``batch`` still in the stream (a ``dynamodbstreams`` client)."""
    read = BatchRecords()
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start,
        )["ShardIterator"]
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return BatchRecords(lost=batch.size, why_lost=f"its stream or shard no longer exists ({RETENTION})")
        if _code(exc) != "TrimmedDataAccessException":
            raise
        # The batch's first records are trimmed; its later ones may still be there.
        read.why_lost = RETENTION
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn, ShardId=batch.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
    empty = 0
    while iterator and empty < EMPTY_PAGES and len(read.records) < batch.size:
        try:
            page = streams.get_records(ShardIterator=iterator, Limit=PAGE)
        except ClientError as exc:
            if _code(exc) != "TrimmedDataAccessException":
                raise
            read.why_lost = RETENTION  # trimmed while being read
            break
        records = page.get("Records", [])
        empty = 0 if records else empty + 1
        sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
        read.records += [r for r, seq in zip(records, sequences, strict=True) if batch.covers(seq)]
        if any(int(seq) > int(batch.end) for seq in sequences):
            break
        iterator = page.get("NextShardIterator")
    read.lost = max(batch.size - len(read.records), 0)
    if read.lost and read.why_lost is None:
        read.why_lost = f"not in its shard any more ({RETENTION})"
    return read
