"""Reading a failed batch back from a DynamoDB stream, as DynamoDB Streams answers: pages that stop
short of the batch, empty pages at an open shard's end, records trimmed before or while reading.
(tests/integration/test_redrive.py reads the moto stream end to end.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dealflow.cli.failed_batches import FailedBatch, Malformed, parse_failure, read_batch

EVENTS = Path(__file__).resolve().parents[2] / "events"
ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/DealsTable/stream/2026-11-23T08:00:00.000"
BASE = 4127300000000034759218100


def _seq(n: int) -> str:
    return str(BASE + n)


def _record(n: int) -> dict[str, Any]:
    return {"eventID": f"e-{n}", "eventName": "MODIFY", "dynamodb": {"SequenceNumber": _seq(n)}}


def _refused(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}}, "GetShardIterator")


class FakeStreams:
    """One open shard holding records ``first``..``last`` (by offset from BASE), served ``page`` at a
    time; iterators before ``trimmed_below`` are refused as trimmed."""

    def __init__(self, first: int, last: int, page: int = 2, trimmed_below: int | None = None) -> None:
        self.records = [_record(n) for n in range(first, last + 1)]
        self.page, self.trimmed_below = page, trimmed_below
        self.iterators: list[tuple[str, str | None]] = []

    def get_shard_iterator(self, **params: Any) -> dict[str, str]:
        kind, at = params["ShardIteratorType"], params.get("SequenceNumber")
        self.iterators.append((kind, at))
        if params["ShardId"] != "shard-1":
            raise _refused("ResourceNotFoundException")
        if kind == "AT_SEQUENCE_NUMBER" and self.trimmed_below is not None and int(at) < BASE + self.trimmed_below:
            raise _refused("TrimmedDataAccessException")
        start = int(at) if kind == "AT_SEQUENCE_NUMBER" else BASE + (self.trimmed_below or 0)
        return {"ShardIterator": json.dumps(start)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        start = json.loads(ShardIterator)
        page = [r for r in self.records if int(r["dynamodb"]["SequenceNumber"]) >= start][: self.page]
        following = int(page[-1]["dynamodb"]["SequenceNumber"]) + 1 if page else start
        # An open shard: past its last record, empty pages with a next iterator, for ever.
        return {"Records": page, "NextShardIterator": json.dumps(following)}


def _batch(start: int, end: int, shard: str = "shard-1") -> FailedBatch:
    return FailedBatch(stream_arn=ARN, shard_id=shard, start=_seq(start), end=_seq(end), size=end - start + 1)


def test_a_batch_is_read_page_by_page_from_its_first_sequence_number_until_past_its_last() -> None:
    streams = FakeStreams(0, 20, page=2)
    read = read_batch(streams, _batch(3, 7))
    assert [r["eventID"] for r in read.records] == ["e-3", "e-4", "e-5", "e-6", "e-7"]
    assert (read.lost, read.why_lost) == (0, None)
    assert streams.iterators == [("AT_SEQUENCE_NUMBER", _seq(3))]


def test_a_partly_trimmed_batch_keeps_what_is_left_and_counts_the_rest_lost() -> None:
    streams = FakeStreams(5, 20, trimmed_below=5)
    read = read_batch(streams, _batch(3, 7))
    assert [r["eventID"] for r in read.records] == ["e-5", "e-6", "e-7"]
    assert read.lost == 2 and "24-hour retention" in (read.why_lost or "")
    assert streams.iterators[-1] == ("TRIM_HORIZON", None)


def test_a_gone_shard_loses_the_whole_batch() -> None:
    read = read_batch(FakeStreams(0, 20), _batch(3, 7, shard="shard-0"))
    assert (read.records, read.lost) == ([], 5) and "no longer exists" in (read.why_lost or "")


def test_an_open_shard_s_empty_pages_end_the_reading_and_what_never_came_is_lost() -> None:
    streams = FakeStreams(0, 4)  # the batch names records 3..7; the shard holds up to 4
    read = read_batch(streams, _batch(3, 7))
    assert [r["eventID"] for r in read.records] == ["e-3", "e-4"] and read.lost == 3


def test_records_trimmed_while_being_read_are_lost_not_an_error() -> None:
    class TrimmedMidway(FakeStreams):
        calls = 0

        def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
            self.calls += 1
            if self.calls > 1:
                raise _refused("TrimmedDataAccessException")
            return super().get_records(ShardIterator, Limit)

    read = read_batch(TrimmedMidway(0, 20, page=2), _batch(3, 7))
    assert [r["eventID"] for r in read.records] == ["e-3", "e-4"] and read.lost == 3


def test_other_refusals_are_not_taken_for_lost_records() -> None:
    class Denied(FakeStreams):
        def get_shard_iterator(self, **params: Any) -> dict[str, str]:
            raise _refused("AccessDeniedException")

    with pytest.raises(ClientError, match="AccessDenied"):
        read_batch(Denied(0, 1), _batch(0, 1))


def test_the_sample_message_names_its_batch() -> None:
    batch = parse_failure((EVENTS / "dispatcher-on-failure.json").read_text(), "DealsTable")
    assert (batch.start, batch.end, batch.size) == ("4127300000000034759218104", "4127300000000034759218131", 2)
    assert batch.first_arrival == "2026-11-23T09:12:51Z" and batch.stream_arn.endswith("2026-11-23T08:00:00.000")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("[1, 2]", "no DDBStreamBatchInfo"),
        (json.dumps({"DDBStreamBatchInfo": {"streamArn": ARN}}), "lacks shardId, startSequenceNumber"),
        (
            json.dumps(
                {
                    "DDBStreamBatchInfo": {
                        "streamArn": ARN,
                        "shardId": "s",
                        "startSequenceNumber": _seq(1),
                        "endSequenceNumber": _seq(2),
                        "batchSize": "many",
                    }
                }
            ),
            "batchSize 'many' is not a number",
        ),
        (
            json.dumps(
                {
                    "DDBStreamBatchInfo": {
                        "streamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/deals",
                        "shardId": "s",
                        "startSequenceNumber": _seq(1),
                        "endSequenceNumber": _seq(2),
                    }
                }
            ),
            "is not a stream of the deals table",
        ),
    ],
)
def test_messages_that_are_not_a_deals_stream_batch_say_why(body: str, why: str) -> None:
    with pytest.raises(Malformed, match=why):
        parse_failure(body, "DealsTable")
