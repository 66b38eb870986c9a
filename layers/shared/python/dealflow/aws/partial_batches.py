"""Partial batch responses for a DynamoDB stream's records or an SQS queue's messages, as Lambda's
event source mapping reads them (``ReportBatchItemFailures``): each record that raises is reported
by its sequence number (message id), the rest of the batch stands, and a batch where every record
fails is reported whole, not raised.

What powertools' ``BatchProcessor`` does for the dispatcher and the run reconciler, without its
import: the batch utility loads asyncio and every event data class, ~60 ms of a cold start
(bench/README.md, "Cold start")."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

_log = logging.getLogger(__name__)


def stream_batch_failures(event: dict[str, Any], handle: Callable[[dict[str, Any]], None]) -> list[dict[str, str]]:
    """Hand each of the stream event's records to ``handle``; the ``batchItemFailures`` of those
    that raised. An event with no list of records is no stream event: ``ValueError``."""
    return _failures(event, handle, "DynamoDB Streams", lambda record: record["dynamodb"]["SequenceNumber"])


def queue_batch_failures(event: dict[str, Any], handle: Callable[[dict[str, Any]], None]) -> list[dict[str, str]]:
    """The same for an SQS event's messages, reported by message id."""
    return _failures(event, handle, "SQS", lambda record: record["messageId"])


def _failures(
    event: dict[str, Any],
    handle: Callable[[dict[str, Any]], None],
    source: str,
    identify: Callable[[dict[str, Any]], str],
) -> list[dict[str, str]]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise ValueError(f"Invalid event format. Please ensure batch event is a valid {source} event.")
    failures = []
    for record in records:
        try:
            handle(record)
        except Exception:
            _log.debug("record failed", exc_info=True)
            failures.append({"itemIdentifier": identify(record)})
    return failures
