"""The run starter on AWS: a Lambda durable execution per run. Its own module so the dispatcher,
which only starts runs, does not load the durable execution SDK the runner's steps need."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # the dispatcher imports this module: no models at import (cold start)
    from dealflow.model import RunRequest

# Invokes in flight at once per container, by default (the dispatcher's RUN_START_CONCURRENCY):
# a batch of 100 records may start hundreds of runs, each an Invoke of ~20–50 ms; in a row, a busy
# batch would spend its function's timeout waiting. boto3 clients are thread-safe; botocore's
# connection pool holds 10 connections unless told otherwise, so the client is built with
# ``starts_client_config`` to match.
START_CONCURRENCY = 16


def starts_client_config(concurrency: int = START_CONCURRENCY) -> Config:
    """The Lambda client's configuration for starting runs: a connection per invoke in flight, and
    no client-side parameter validation — each request is ours, built from a validated model, and
    validating it again cost about a tenth of the SDK's CPU per invoke."""
    return Config(max_pool_connections=concurrency, parameter_validation=False)


class LambdaRunStarter:
    """Starts the runner as a durable execution named after the run: Lambda itself refuses a
    second execution of the same name, so a redelivered stream record cannot start a run twice."""

    def __init__(self, client: Any, function_name: str, *, concurrency: int = START_CONCURRENCY) -> None:
        self._client = client
        self._function_name = function_name
        self._concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None  # made on first use, kept for the container

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

    def start_all(self, requests: Sequence[RunRequest]) -> list[bool | Exception]:
        """``start`` for each request, at most ``concurrency`` at once; one answer per request, in
        their order: True (started), False (its name had run already) or the error that start
        raised. Every start is made whatever the others' fate."""
        if len(requests) <= 1:
            return [self._answer(r) for r in requests]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="run-start")
        return list(self._pool.map(self._answer, requests))

    def _answer(self, request: RunRequest) -> bool | Exception:
        try:
            return self.start(request)
        except Exception as exc:
            return exc

    def resume(self, callback_id: str, payload: str) -> bool:
        """Complete a waiting run's callback (the ``RunResumer`` port); False when it had closed
        (timed out, or its execution ended): there was nothing left to resume."""
        try:
            self._client.send_durable_execution_callback_success(CallbackId=callback_id, Result=payload.encode())
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in ("CallbackTimeoutException", "ResourceNotFoundException", "InvalidParameterValueException"):
                raise
            return False
        return True

    def stop(self, execution_id: str) -> bool:
        """False when the execution had ended (or is gone): there was nothing left to stop."""
        try:
            self._client.stop_durable_execution(DurableExecutionArn=execution_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("ResourceNotFoundException", "InvalidParameterValueException"):
                raise
            return False
        return True
