"""Lambda: the runs that end without the runner: EventBridge's "Durable Execution Status Change"
events of the runner, and the cancellation queue's jobs.

A runner execution that times out or is stopped ends without the runner getting control, and one
that crashes may end before it could write why; this marks such a run ``failed`` with the reason
unless its record already ended (``dealflow.engine.run_failures.reconcile``), and counts it in
``RunsFailed`` (the runner counted the failures it recorded itself).

A cancellation job (``dealflow.engine.cancellation``) is gone on with from where it stands, while
this invocation has time; what is left is queued again. A message that fails is reported alone in
``batchItemFailures``; SQS hands it back after its visibility timeout and the job resumes from its
last saved page.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from dealflow import runtime
from dealflow.aws.partial_batches import queue_batch_failures
from dealflow.engine.signals import count_run_end

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
runtime.trace_aws_calls()  # before the clients below exist: every AWS call traced
METRICS = runtime.metrics("run-reconciler")
# Each invocation takes one of two paths: each is imported and built (once per container) when
# first taken, so the import loads neither's models nor stores.
RECONCILE = runtime.Deferred(runtime.run_reconciler).proxy()
CANCELLATIONS = runtime.Deferred(runtime.cancellations).proxy()
RESERVE_SECONDS = 10.0  # a page of stops and its save fit in what is left when a turn stops


def execution_ended(event: dict[str, Any]) -> dict[str, Any]:
    from dealflow.model.run import ExecutionStatusChange  # with the path's first event (see RECONCILE)

    record = RECONCILE(ExecutionStatusChange.model_validate(event["detail"]))
    if record is None:
        return {"run_id": None, "status": None}
    ids = {"tenant_id": record.tenant_id, "deal_id": record.deal_id, "automation_id": record.automation_id}
    logger.warning("run filed as failed", extra={**ids, "run_id": record.run_id, "reason": record.reason})
    count_run_end(METRICS, record.automation_kind, record.status)
    METRICS.flush()
    return {"run_id": record.run_id, "status": record.status}


def go_on_with_job(record: dict[str, Any], lambda_context: LambdaContext) -> None:
    from dealflow.model.cancellation import JobMessage  # with the path's first job (see RECONCILE)

    message = JobMessage.model_validate_json(record["body"])
    job = CANCELLATIONS.resume(
        message.tenant_id,
        message.job_id,
        time_left=lambda: lambda_context.get_remaining_time_in_millis() / 1000,
        reserve=RESERVE_SECONDS,
    )
    counts = job.model_dump(include={"status", "found", "stopped", "already_ended", "failed"}) if job else {}
    logger.info("cancellation job", extra={"tenant_id": message.tenant_id, "job_id": message.job_id, **counts})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:  # the cancellation queue's batch
        return {"batchItemFailures": queue_batch_failures(event, partial(go_on_with_job, lambda_context=context))}
    return execution_ended(event)
