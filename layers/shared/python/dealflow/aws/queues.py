"""The cancellation and timer queues (SQS): jobs a worker goes on with, one message per turn."""

from __future__ import annotations

from typing import Any

from dealflow.model.cancellation import JobMessage
from dealflow.model.timing import TimerJob


class SqsCancellationQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue(self, tenant_id: str, job_id: str) -> None:
        body = JobMessage(tenant_id=tenant_id, job_id=job_id).model_dump_json()
        self._client.send_message(QueueUrl=self._url, MessageBody=body)


class SqsTimerQueue:
    """The timer queue (SQS): a schedule's fire or a date trigger's arming, one page per turn."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue(self, job: TimerJob) -> None:
        self._client.send_message(QueueUrl=self._url, MessageBody=job.model_dump_json())
