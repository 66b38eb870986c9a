"""Read DealsTable's stream from moto and hand records over in the shape Lambda delivers.

moto runs no event source mapping without Docker, and its GetRecords output differs from Lambda's
stream event: no ``eventSourceARN``, and ``ApproximateCreationDateTime`` as a datetime rather than
epoch seconds. Both are fixed here, so the dispatcher sees exactly what it would on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    images = dict(record["dynamodb"])
    created = images.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        images["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": images, "eventSourceARN": stream_arn}


class StreamPump:
    def __init__(
        self, streams: Any, stream_arn: str, seen: Callable[[str, dict[str, Any]], None] | None = None
    ) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._seen = seen  # told each record's shard as it is read (the harness's StreamHistory)
        self._iterators: dict[str, str | None] = {}

    def _discover_shards(self) -> None:
        description = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]
        for shard in description["Shards"]:
            if shard["ShardId"] not in self._iterators:
                self._iterators[shard["ShardId"]] = self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def poll(self) -> list[dict[str, Any]]:
        """Every record written since the last poll, oldest first, Lambda-shaped."""
        self._discover_shards()
        records: list[dict[str, Any]] = []
        for shard_id, iterator in self._iterators.items():
            while iterator:
                page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = page.get("NextShardIterator")
                for record in page["Records"]:
                    if self._seen is not None:
                        self._seen(shard_id, record)
                    records.append(lambda_record(record, self._arn))
                if not page["Records"]:
                    break
            self._iterators[shard_id] = iterator
        return records
