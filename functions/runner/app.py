"""Lambda durable function: one run of one piece of automation (condition, delay, actions) on a
deal or a lead.

powertools' Logger and Metrics decorators misbehave on durable handlers (powertools issue 7763), so
this handler has none: it logs and flushes its metrics itself, from inside. Its log lines carry
the run's tenant, deal, automation, run and stream event ids; a run is counted when it ends
(``RunsCompleted``, ``RunsFailed``, ``RunsStopped``) and each effect when it is performed
(``Effects``), not when a replay walks past it. A request it cannot read still leaves a failed run
in the run log (``execute_event``); an execution that times out or is stopped never comes back
here: ``functions/run_reconciler`` files (and counts) those.

A cold start imports the durable SDK (its decorator), the Logger and boto3; the engine, the models,
Jinja2, the stores and the AWS clients of the effects load with the first run, once per container
(``SERVICES``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_lambda_powertools import Logger

from dealflow import runtime
from dealflow.engine.signals import count_run_end

if TYPE_CHECKING:
    from dealflow.engine.actions import Services

    SERVICES: Services  # built on first use: see __getattr__

logger = Logger()
runtime.trace_aws_calls()  # before any client exists: every AWS call traced
METRICS = runtime.metrics("runner")
_OWN_SERVICES = runtime.runner(counted=METRICS)


def __getattr__(name: str) -> Any:
    """``SERVICES``, read before any run assigned or built it: the runner's own, built now. A test
    or the local harness may assign ``SERVICES`` (its own stores, a mailer that fails); every
    later run uses what it assigned."""
    if name == "SERVICES":
        return _OWN_SERVICES()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _services() -> Services:
    assigned = globals().get("SERVICES")
    return assigned if assigned is not None else _OWN_SERVICES()


def _ids(event: Any) -> dict[str, Any]:
    """The ids a log line of this run carries, as far as the request shows them."""
    request = event if isinstance(event, dict) else {}
    automation = request.get("automation") or {}
    return {
        "tenant_id": request.get("tenant_id"),
        "deal_id": request.get("target_id") or request.get("deal_id"),
        "automation_id": automation.get("id") if isinstance(automation, dict) else None,
        "run_id": request.get("run_id"),
        "event_id": request.get("event_id"),
    }


@durable_execution
def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    # Loaded by the container's first run, then found in sys.modules.
    from dealflow.aws.adapters import DurableSteps
    from dealflow.engine.interpreter import execute_event
    from dealflow.engine.run_ends import RunFailed

    # Per line rather than appended keys: several runs may share one process (the durable SDK's
    # own tests, the local harness), and appended keys belong to the logger, not the run.
    ids = _ids(event)
    automation = event.get("automation") if isinstance(event, dict) else None
    kind = str(automation.get("kind", "unknown")) if isinstance(automation, dict) else "unknown"
    try:
        result = execute_event(event, DurableSteps(context), _services())
    except RunFailed as failed:
        count_run_end(METRICS, kind, "failed")
        logger.warning("run failed", extra={**ids, "reason": str(failed)})
        raise
    else:
        count_run_end(METRICS, kind, result["status"])
        logger.info("run ended", extra={**ids, "status": result["status"]})
        return result
    finally:
        METRICS.flush()
