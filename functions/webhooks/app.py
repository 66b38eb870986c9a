"""Lambda behind the HTTP API: ``POST /webhooks/{tenant_id}`` — a signed outside event (a paid
invoice, a clicked link, a call, a web form) moves a deal through its tenant's triggers.

The HMAC signature is the authentication (the API has no authorizer); the scheme, the checks and
their order are in ``dealflow.webhooks``. Every refusal is a JSON ``{"error", "reason", ...}``
with a 4xx status; AWS trouble is a 503 the sender should retry. Log lines carry the tenant and the event id; the runs
an event starts are counted in ``RunsStarted`` (function ``webhooks``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dealflow import runtime
from dealflow.http_errors import BadRequest, PayloadTooLarge
from dealflow.http_errors import HttpError as Rejected

logger = Logger()
app = APIGatewayHttpResolver()
runtime.trace_aws_calls()  # before the clients below exist: every AWS call traced
METRICS = runtime.metrics("webhooks")
# Built once per container, with the first request (the receiver's stores, models and engine
# load then, not when Lambda imports this); the local harness swaps in a receiver with its
# in-process run starter.
RECEIVER = runtime.Deferred(runtime.webhook_receiver).proxy()


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _raw_body() -> bytes:
    """The body exactly as sent: the signature covers these bytes, not a re-serialisation."""
    event = app.current_event
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    if len(body) > RECEIVER.max_body * 4 // 3 + 4:
        raise PayloadTooLarge(f"body is over {RECEIVER.max_body} bytes")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("body is not valid base64") from None


@app.post("/webhooks/<tenant_id>")
def receive(tenant_id: str) -> Response:
    logger.append_keys(tenant_id=tenant_id)
    accepted = RECEIVER.receive(tenant_id, app.current_event.headers, _raw_body())
    logger.append_keys(event_id=accepted.event_id)
    logger.info("webhook accepted", extra={"runs": accepted.runs})
    return _json(202, accepted.model_dump(mode="json"))


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    level = logger.error if exc.status >= 500 else logger.warning
    level(
        "webhook refused",
        extra={"status": exc.status, "error": exc.error, "reason": exc.reason, "path": app.current_event.raw_path},
        exc_info=exc.status >= 500,
    )
    return _json(exc.status, exc.body())


@app.not_found
def not_found(_exc: Exception) -> Response:
    return _json(404, {"error": "not_found", "reason": "POST /webhooks/{tenant_id} is the only route"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return app.resolve(event, context)
    finally:
        logger.remove_keys(["tenant_id", "event_id"])
        METRICS.flush()
