"""Lambda: the clock of scheduled and date-field triggers (``dealflow.engine.timers``).

Every minute EventBridge Scheduler's tick comes: every timer due is handled while this invocation
has time (a schedule's fire queued, a date trigger's run started, a saved tenant's timers armed);
what is left is still due at the next tick. The timer queue's messages are jobs that page through
a tenant's items: a schedule's fire (a run per matching item) or a date trigger's arming (a timer
per item); a turn works pages while it has time, then queues the job again from where it stands.
A message that fails is reported alone in ``batchItemFailures``; SQS hands it back and the page is
done again, starting nothing twice (runs are named after their start).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from dealflow import runtime
from dealflow.aws.partial_batches import queue_batch_failures

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
runtime.trace_aws_calls()
METRICS = runtime.metrics("scheduler")
# Imported and built with the first tick or job (once per container): the timers' engine loads
# the models, which an import need not pay for.
CLOCKWORK = runtime.Deferred(runtime.clockwork).proxy()
RESERVE_SECONDS = 10.0  # a page of starts fits in what is left when a turn stops


def _time_left(context: LambdaContext) -> float:
    return context.get_remaining_time_in_millis() / 1000


def go_on_with_job(record: dict[str, Any], lambda_context: LambdaContext) -> None:
    from dealflow.engine.timers import work_job
    from dealflow.model.timing import TimerJob

    job = TimerJob.model_validate_json(record["body"])
    turn = work_job(CLOCKWORK, job, partial(_time_left, lambda_context), RESERVE_SECONDS)
    ids = {"tenant_id": job.tenant_id, "automation_id": job.automation_id, "kind": job.kind}
    logger.info("timer job", extra={**ids, "done": turn.done, "runs": len(turn.started), "items": turn.job.started})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        if "Records" in event:  # the timer queue's batch
            return {"batchItemFailures": queue_batch_failures(event, partial(go_on_with_job, lambda_context=context))}
        from dealflow.engine.timers import tick

        report = tick(CLOCKWORK, partial(_time_left, context), RESERVE_SECONDS)
        logger.info("tick", extra=vars(report))
        return vars(report)
    finally:
        METRICS.flush()
