"""Lambda: DealsTable's stream → the runs each deal change calls for.

Each record is planned in turn; the runs of the whole batch are then started together and the
run-log entries of those not started written together (``dealflow.engine.dispatcher``). A record
that fails — while planned, or when one of its runs cannot be started, or its entries written — is
reported alone in ``batchItemFailures``; the rest of the batch stands. Each record's log lines
carry its stream event id, tenant and deal; the runs started and not started, and how far behind
the stream each record was (``DispatcherLag``), are counted as metrics (README, "Operate").
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from dealflow import runtime
from dealflow.aws.partial_batches import stream_batch_failures
from dealflow.engine.dispatcher import DispatchBatch
from dealflow.engine.signals import DISPATCHER_LAG

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
runtime.trace_aws_calls()  # before the clients below exist: every AWS call traced
METRICS = runtime.metrics("dispatcher")
DISPATCHER = runtime.dispatcher()


def about(record: dict[str, Any]) -> None:
    """The log lines from here on name this record, its tenant and its deal."""
    keys = record.get("dynamodb", {}).get("Keys") or {}
    logger.append_keys(
        event_id=record.get("eventID"),
        tenant_id=keys.get("tenant_id", {}).get("S"),
        deal_id=keys.get("id", {}).get("S"),
    )


def add_record(batch: DispatchBatch, record: dict[str, Any]) -> None:
    # The raw images: the dispatcher decodes them itself, once (see dealflow.engine.records).
    images = record["dynamodb"]
    about(record)
    created = images.get("ApproximateCreationDateTime")
    if created is not None:
        METRICS.measure(DISPATCHER_LAG, max(0.0, time.time() - float(created)) * 1000, "Milliseconds")
    batch.add(images.get("OldImage"), images.get("NewImage"), record.get("eventID") or "")


def _finish(batch: DispatchBatch, event: dict[str, Any], failed: list[dict[str, str]]) -> dict[str, Any]:
    """Start the batch's runs, write its entries, and add the records that failed doing so."""
    outcome = batch.finish()
    failures = list(failed)
    reported = {f["itemIdentifier"] for f in failures}
    for record in event.get("Records", []):
        event_id, sequence = record.get("eventID", ""), record.get("dynamodb", {}).get("SequenceNumber")
        started, error = outcome.started.get(event_id), outcome.failed.get(event_id)
        if started or error is not None:
            about(record)
        if started:
            logger.info("runs started", extra={"runs": started})
        if error is not None and sequence not in reported:
            logger.error("record failed", exc_info=error)
            failures.append({"itemIdentifier": sequence})
            reported.add(sequence)
    return {"batchItemFailures": failures}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = DISPATCHER.batch()
    try:
        # Every failed record is reported, even when all fail: the mapping retries exactly those,
        # then bisects.
        return _finish(batch, event, stream_batch_failures(event, partial(add_record, batch)))
    finally:
        logger.remove_keys(["event_id", "tenant_id", "deal_id"])
        METRICS.flush()
