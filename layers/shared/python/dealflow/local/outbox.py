"""What went out: e-mails from moto's SES, notifications from the SNS topic.

Notifications are read the way a real subscriber would get them: an SQS queue subscribed to the
topic with raw delivery, so the message attributes (tenant, deal, users) arrive as sent.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Email:
    sender: str
    to: list[str]
    subject: str
    body: str


@dataclass(frozen=True)
class Notification:
    tenant_id: str
    deal_id: str
    users: list[str]
    message: str


class Outbox:
    def __init__(self, session: Any, topic_arn: str, endpoint: str | None) -> None:
        self._endpoint = endpoint
        self._sqs = session.client("sqs")
        self._queue = self._sqs.create_queue(QueueName="LocalNotificationsOutbox")["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self._queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        session.client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        self._notifications: list[Notification] = []

    def emails(self) -> list[Email]:
        if self._endpoint:
            with urllib.request.urlopen(f"{self._endpoint}/moto-api/data.json", timeout=10) as reply:
                data = json.load(reply)
            sent = data.get("ses", {}).get("Message", [])  # moto keeps sent mail under its model name
            return [
                Email(
                    sender=m["source"], to=list(m["destinations"]["ToAddresses"]), subject=m["subject"], body=m["body"]
                )
                for m in sent
            ]
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        backend = ses_backends[DEFAULT_ACCOUNT_ID][self._sqs.meta.region_name]
        return [
            Email(sender=m.source, to=list(m.destinations["ToAddresses"]), subject=m.subject, body=m.body)
            for m in backend.sent_messages
        ]

    def notifications(self) -> list[Notification]:
        while True:
            batch = self._sqs.receive_message(
                QueueUrl=self._queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return list(self._notifications)
            for message in batch:
                attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
                self._notifications.append(
                    Notification(
                        tenant_id=attributes.get("tenant_id", ""),
                        deal_id=attributes.get("deal_id", ""),
                        users=json.loads(attributes.get("user_ids", "[]")),
                        message=message["Body"],
                    )
                )
                self._sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"])
