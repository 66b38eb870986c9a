"""The run log's dead-letter: an SQS queue holding run records the run log would not take.

The runner sends a record here when its run-log write failed past its own budget
(``dealflow.engine.run_log_keeper``); ``dealflow run-log drain`` reads them back into the run log,
where the run lists (and the failed-run inbox) show them. A queue rather than a table: it fails
independently of the table whose writes failed, keeps messages 14 days, and its depth is an alarm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from dealflow.clock import now_iso
from dealflow.model import RunRecord
from dealflow.model.base import stored
from dealflow.store.runs import fitted

# SQS takes at most 256 KiB per message; the record is fitted well under it, with room for the rest.
MAX_RECORD_BYTES = 200 * 1024


@dataclass(frozen=True)
class DeadLetter:
    """One message: the record (None when it no longer reads as one), why, and its receipt."""

    record: RunRecord | None
    error: str
    at: str
    receipt: str
    body: str


class SqsRunDeadLetter:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def put(self, record: RunRecord, error: str) -> None:
        body = {"record": fitted(record, MAX_RECORD_BYTES).model_dump(mode="json"), "error": error, "at": now_iso()}
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body))

    def receive(self, max_messages: int = 10) -> list[DeadLetter]:
        """Up to ``max_messages`` (at most 10) messages, hidden from other readers for five minutes."""
        answer = self._client.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=min(max_messages, 10), VisibilityTimeout=300
        )
        return [_letter(m) for m in answer.get("Messages", [])]

    def delete(self, letter: DeadLetter) -> None:
        self._client.delete_message(QueueUrl=self._queue_url, ReceiptHandle=letter.receipt)


def _letter(message: dict[str, Any]) -> DeadLetter:
    body = message.get("Body", "")
    try:
        data = json.loads(body)
        record = stored(RunRecord, data["record"])
        error, at = str(data.get("error", "")), str(data.get("at", ""))
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        return DeadLetter(None, f"not a run record: {exc}", "", message["ReceiptHandle"], body)
    return DeadLetter(record, error, at, message["ReceiptHandle"], body)
