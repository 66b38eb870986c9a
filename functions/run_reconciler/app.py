"""Lambda: EventBridge's "Durable Execution Status Change" events of the runner → the run log.

A runner execution that times out or is stopped ends without the runner getting control, and one
that crashes may end before it could write why; this marks such a run ``failed`` with the reason
unless its record already ended (``dealflow.engine.run_failures.reconcile``), and counts it in
``RunsFailed`` (the runner counted the failures it recorded itself).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from dealflow import runtime
from dealflow.engine.signals import count_run_end
from dealflow.model.run import ExecutionStatusChange

logger = Logger()
runtime.trace_aws_calls()  # before the clients below exist: every AWS call traced
METRICS = runtime.metrics("run-reconciler")
RECONCILE = runtime.run_reconciler()


@logger.inject_lambda_context
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    record = RECONCILE(ExecutionStatusChange.model_validate(event.detail))
    if record is None:
        return {"run_id": None, "status": None}
    ids = {"tenant_id": record.tenant_id, "deal_id": record.deal_id, "automation_id": record.automation_id}
    logger.warning("run filed as failed", extra={**ids, "run_id": record.run_id, "reason": record.reason})
    count_run_end(METRICS, record.automation_kind, record.status)
    METRICS.flush()
    return {"run_id": record.run_id, "status": record.status}
