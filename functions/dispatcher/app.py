"""Lambda: DealsTable's stream → the runs each deal change calls for.

A record that fails is reported alone in ``batchItemFailures``; the rest of the batch stands.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dealflow import runtime

logger = Logger()
# Report every failed record, even when all fail: the mapping retries exactly those, then bisects.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
DISPATCHER = runtime.dispatcher()


def record_handler(record: DynamoDBRecord) -> None:
    # The raw images: the dispatcher decodes them itself, once (see dealflow.engine.records).
    images = record.raw_event["dynamodb"]
    started = DISPATCHER.handle(images.get("OldImage"), images.get("NewImage"), record.event_id or "")
    if started:
        logger.info("runs started", extra={"event_id": record.event_id, "runs": started})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    DISPATCHER.new_batch()
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
