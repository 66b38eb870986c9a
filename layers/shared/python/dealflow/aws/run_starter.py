"""The run starter on AWS: a Lambda durable execution per run. Its own module so the dispatcher,
which only starts runs, does not load the durable execution SDK the runner's steps need."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from dealflow.model import RunRequest

# Invokes in flight at once per container: one change may start dozens of runs, each an Invoke of
# ~20–50 ms; in a row, a busy batch would spend its function's timeout waiting. boto3 clients are
# thread-safe; botocore's default connection pool holds 10 connections, so the client is built
# with ``STARTS_CLIENT_CONFIG`` to match (runtime.py).
START_CONCURRENCY = 16
STARTS_CLIENT_CONFIG = Config(max_pool_connections=START_CONCURRENCY)


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

    def start_all(self, requests: Sequence[RunRequest]) -> list[bool]:
        """``start`` for each request, at most ``concurrency`` at once; the answers in the requests'
        order. Every start is tried even when one fails; then the first failure is raised, so the
        caller fails as it would have in a row (retrying is safe: a started name is not started
        again)."""
        if len(requests) <= 1:
            return [self.start(r) for r in requests]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="run-start")
        futures = [self._pool.submit(self.start, r) for r in requests]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]

    def stop(self, execution_id: str) -> bool:
        """False when the execution had ended (or is gone): there was nothing left to stop."""
        try:
            self._client.stop_durable_execution(DurableExecutionArn=execution_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("ResourceNotFoundException", "InvalidParameterValueException"):
                raise
            return False
        return True
