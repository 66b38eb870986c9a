"""The run starter on AWS: a Lambda durable execution per run. Its own module so the dispatcher,
which only starts runs, does not load the durable execution SDK the runner's steps need."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dealflow.model import RunRequest


class LambdaRunStarter:
    """Starts the runner as a durable execution named after the run: Lambda itself refuses a
    second execution of the same name, so a redelivered stream record cannot start a run twice."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    def start(self, request: RunRequest) -> bool:
        try:
            self._client.invoke(
                FunctionName=self._function_name,
                InvocationType="Event",
                DurableExecutionName=request.run_id,
                Payload=request.model_dump_json(),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "DurableExecutionAlreadyStartedException":
                return False
            raise
        return True

    def stop(self, execution_id: str) -> None:
        try:
            self._client.stop_durable_execution(DurableExecutionArn=execution_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("ResourceNotFoundException", "InvalidParameterValueException"):
                raise
