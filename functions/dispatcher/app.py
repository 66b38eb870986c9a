"""Lambda: DealsTable's stream → the runs each deal change calls for.

A record that fails is reported alone in ``batchItemFailures``; the rest of the batch stands.
Each record's log lines carry its stream event id, tenant and deal; the runs started and not
started, and how far behind the stream each record was (``DispatcherLag``), are counted as metrics
(README, "Operate").
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dealflow import runtime
from dealflow.engine.signals import DISPATCHER_LAG

logger = Logger()
# Report every failed record, even when all fail: the mapping retries exactly those, then bisects.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
runtime.trace_aws_calls()  # before the clients below exist: every AWS call traced
METRICS = runtime.metrics("dispatcher")
DISPATCHER = runtime.dispatcher()


def record_handler(record: DynamoDBRecord) -> None:
    # The raw images: the dispatcher decodes them itself, once (see dealflow.engine.records).
    images = record.raw_event["dynamodb"]
    keys = images.get("Keys") or {}
    logger.append_keys(
        event_id=record.event_id,
        tenant_id=keys.get("tenant_id", {}).get("S"),
        deal_id=keys.get("id", {}).get("S"),
    )
    created = images.get("ApproximateCreationDateTime")
    if created is not None:
        METRICS.measure(DISPATCHER_LAG, max(0.0, time.time() - float(created)) * 1000, "Milliseconds")
    started = DISPATCHER.handle(images.get("OldImage"), images.get("NewImage"), record.event_id or "")
    if started:
        logger.info("runs started", extra={"runs": started})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    DISPATCHER.new_batch()
    try:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        logger.remove_keys(["event_id", "tenant_id", "deal_id"])
        METRICS.flush()
