"""Partial batch responses: the records (messages) that raised, by sequence number (message id)."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.aws.partial_batches import queue_batch_failures, stream_batch_failures


def _record(sequence: str) -> dict[str, Any]:
    return {"eventID": f"e{sequence}", "dynamodb": {"SequenceNumber": sequence}}


def _fail_on(*sequences: str) -> Any:
    seen: list[str] = []

    def handle(record: dict[str, Any]) -> None:
        seen.append(record["dynamodb"]["SequenceNumber"])
        if record["dynamodb"]["SequenceNumber"] in sequences:
            raise RuntimeError("poison")

    return handle, seen


def test_a_failing_record_is_reported_and_the_rest_of_the_batch_stands() -> None:
    handle, seen = _fail_on("2")
    failures = stream_batch_failures({"Records": [_record("1"), _record("2"), _record("3")]}, handle)
    assert failures == [{"itemIdentifier": "2"}]
    assert seen == ["1", "2", "3"]


def test_a_batch_where_every_record_fails_is_reported_whole_not_raised() -> None:
    handle, _ = _fail_on("1", "2")
    failures = stream_batch_failures({"Records": [_record("1"), _record("2")]}, handle)
    assert failures == [{"itemIdentifier": "1"}, {"itemIdentifier": "2"}]


@pytest.mark.parametrize("event", [{}, {"Records": "no"}, []])
def test_an_event_without_records_is_no_stream_event(event: Any) -> None:
    handle, _ = _fail_on()
    with pytest.raises(ValueError, match="DynamoDB Streams"):
        stream_batch_failures(event, handle)


def test_a_failing_queue_message_is_reported_by_its_message_id() -> None:
    def handle(message: dict[str, Any]) -> None:
        if message["body"] == "bad":
            raise ValueError("unreadable job")

    event = {"Records": [{"messageId": "m1", "body": "good"}, {"messageId": "m2", "body": "bad"}]}
    assert queue_batch_failures(event, handle) == [{"itemIdentifier": "m2"}]
