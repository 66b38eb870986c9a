"""The ``Executions`` port over Lambda's durable-execution API: what an ended run was started with."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from dealflow.ports import ExecutionFacts


class LambdaExecutions:
    def __init__(self, client: Any) -> None:
        self._client = client

    def describe(self, execution_id: str) -> ExecutionFacts | None:
        try:
            found = self._client.get_durable_execution(DurableExecutionArn=execution_id)
        except ClientError as exc:
            # Gone (past the runner's history retention) or never ours: nothing left to read.
            if exc.response["Error"]["Code"] in ("ResourceNotFoundException", "InvalidParameterValueException"):
                return None
            raise
        payload = found.get("InputPayload")
        try:
            request = json.loads(payload) if payload else None
        except ValueError:
            request = payload  # unreadable as JSON: the reconciler says so
        return ExecutionFacts(request=request, error=(found.get("Error") or {}).get("ErrorMessage"))
