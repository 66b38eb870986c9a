"""Lambda durable function: one run of one piece of automation (condition, delay, actions) on a
deal or a lead.

powertools' Logger decorators misbehave on durable handlers (powertools issue 7763), so this
handler has none; the interpreter logs through the run log instead. A request it cannot read still
leaves a failed run in the run log (``execute_event``); an execution that times out or is stopped
never comes back here: ``functions/run_reconciler`` files those.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution

from dealflow import runtime
from dealflow.aws.adapters import DurableSteps
from dealflow.engine.interpreter import execute_event

SERVICES = runtime.runner_services()


@durable_execution
def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    return execute_event(event, DurableSteps(context), SERVICES)
