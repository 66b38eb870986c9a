"""AWS's message limits at the harness's client boundary, which moto does not hold to.

moto's SNS measures a message in characters and leaves its attributes out; SES's recipient cap
depends on moto's version. Each SES and SNS client the harness's session builds checks the call
before it leaves: a SendEmail to more than 50 recipients is answered as SES answers it
(MessageRejected), a Publish over 256 KiB counted as SNS counts it (InvalidParameter). botocore
raises the same ClientError it would raise for AWS's reply, so the code under test takes the path
it would take on AWS, and a test that would fail there fails here.
"""

from __future__ import annotations

import io
from typing import Any

from botocore.awsrequest import AWSResponse
from urllib3.response import HTTPResponse

from dealflow.aws.message_limits import ses_recipient_count, sns_publish_bytes, too_many_recipients
from dealflow.limits import MAX_SES_RECIPIENTS_PER_MESSAGE, MAX_SNS_MESSAGE_BYTES

_REFUSAL = "dealflow-aws-limits-refusal"


def install(*sessions: Any) -> None:
    """Hold calls of clients these boto3 sessions create from now on to AWS's limits (idempotent)."""
    for session in sessions:
        session.events.register(
            "before-parameter-build.sesv2.SendEmail", _check_email, unique_id="dealflow-limits-ses-send"
        )
        session.events.register("before-parameter-build.sns.Publish", _check_publish, unique_id="dealflow-limits-sns")
        session.events.register("before-call", _refuse, unique_id="dealflow-limits-refuse")


def _check_email(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    destination = params.get("Destination") or {}
    if too_many_recipients(destination):
        # SES's own words (v1 names the code InvalidParameterValue; v2 rejects the message).
        count = ses_recipient_count(destination)
        context[_REFUSAL] = ("MessageRejected", f"Recipient count exceeds {MAX_SES_RECIPIENTS_PER_MESSAGE}. ({count})")


def _check_publish(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    size = sns_publish_bytes(params.get("Message") or "", params.get("MessageAttributes") or {})
    if size > MAX_SNS_MESSAGE_BYTES:
        context[_REFUSAL] = (
            "InvalidParameter",
            f"Invalid parameter: Message too long ({size} bytes with attributes; at most {MAX_SNS_MESSAGE_BYTES})",
        )


def _refuse(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    refused = context.get(_REFUSAL)
    if refused is None:
        return None
    code, message = refused
    parsed = {
        "Error": {"Code": code, "Message": message, "Type": "Sender"},
        "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "local-aws-limits"},
    }
    return AWSResponse("", 400, {}, HTTPResponse(body=io.BytesIO(b""), status=400, preload_content=False)), parsed
