"""An SQS event source mapping on moto: read a queue and hand its messages to a handler in the
shape Lambda delivers them (an SQS event, one batch at a time). Without Docker moto runs no
mapping, so the harness pumps the cancellation queue into the run reconciler as it pumps the stream
into the dispatcher.

As on AWS: the mapping receives and deletes with the function's role; a message the handler
reports failed (``batchItemFailures``) or that the handler failed on comes back — here at once,
there after its visibility timeout — and after ``max_receives`` goes to the dead-letter queue."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

MAX_RECEIVES = 5  # as CancellationQueue's RedrivePolicy.maxReceiveCount in template.yaml


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": message.get("Attributes", {}).get("ApproximateReceiveCount", "1")},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@dataclass
class QueuePump:
    sqs: Any
    queue_url: str
    queue_arn: str
    dead_letter_url: str
    region: str
    handler: Callable[[dict[str, Any]], dict[str, Any]]
    mapping_role: Callable[[], AbstractContextManager[None]]  # the calls the mapping makes with the function's role
    max_receives: int = MAX_RECEIVES
    receives: dict[str, int] = field(default_factory=dict)  # message id → times handed over
    dead_letters: list[str] = field(default_factory=list)

    def poll(self) -> int:
        """Hand every message waiting now to the handler, one at a time; how many were handed."""
        handed = 0
        while True:
            with self.mapping_role():
                answer = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=1, AttributeNames=["All"]
                )
            messages = answer.get("Messages", [])
            if not messages:
                return handed
            [message] = messages
            handed += 1
            self._hand_over(message)

    def _hand_over(self, message: dict[str, Any]) -> None:
        body, message_id = message["Body"], message["MessageId"]
        self.receives[message_id] = self.receives.get(message_id, 0) + 1
        try:
            response = self.handler({"Records": [sqs_record(message, self.queue_arn, self.region)]})
            failed = bool(response.get("batchItemFailures"))
        except Exception:  # the invocation itself failed: Lambda hands the batch back
            failed = True
        if failed and self.receives[message_id] < self.max_receives:
            # Its visibility timeout running out at once (on AWS, Lambda just lets it run out).
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
            return
        if failed:  # SQS itself moves it (its redrive policy), not the function's role
            self.sqs.send_message(QueueUrl=self.dead_letter_url, MessageBody=body)
            self.dead_letters.append(body)
        with self.mapping_role():
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
