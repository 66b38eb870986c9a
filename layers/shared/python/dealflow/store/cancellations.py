"""Cancellation jobs, one item each in the tenant's partition (``CANCEL#<job id>``), kept 90 days."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from dealflow.model.base import stored
from dealflow.model.cancellation import CancellationJob
from dealflow.store.items import is_conditional_failure, plain, to_item

JOB_RETENTION = timedelta(days=90)
_STORAGE_KEYS = ("sk", "expires_at")


def _sk(job_id: str) -> str:
    return f"CANCEL#{job_id}"


class CancellationJobs:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _item(self, job: CancellationJob) -> dict[str, Any]:
        expires = datetime.fromisoformat(job.created_at) + JOB_RETENTION
        return to_item(job, sk=_sk(job.job_id), expires_at=int(expires.timestamp()))

    def create(self, job: CancellationJob) -> None:
        self._table.put_item(Item=self._item(job), ConditionExpression=Attr("sk").not_exists())

    def get(self, tenant_id: str, job_id: str) -> CancellationJob | None:
        item = self._table.get_item(Key={"tenant_id": tenant_id, "sk": _sk(job_id)}).get("Item")
        return None if item is None else stored(CancellationJob, plain(item, *_STORAGE_KEYS))

    def save(self, job: CancellationJob, expected_version: int) -> bool:
        """Store the job's next step unless another worker stored one since ``expected_version``."""
        try:
            self._table.put_item(Item=self._item(job), ConditionExpression=Attr("version").eq(expected_version))
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True
