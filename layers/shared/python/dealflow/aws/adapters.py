"""AWS implementations of the domain's ports: SES v2, SNS, Lambda durable invoke and steps."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from email.utils import formataddr
from typing import Any, TypeVar

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, StepConfig, StepSemantics
from aws_durable_execution_sdk_python.exceptions import CallbackTimeoutError, StepInterruptedError, UnrecoverableError
from aws_durable_execution_sdk_python.retries import RetryDecision, RetryStrategyConfig, create_retry_strategy
from aws_durable_execution_sdk_python.types import StepContext
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)

from dealflow.aws.message_limits import fit_sns_message, too_many_recipients
from dealflow.aws.run_starter import LambdaRunStarter
from dealflow.headers import address, header_text, mailbox
from dealflow.limits import MAX_SES_RECIPIENTS_PER_MESSAGE
from dealflow.model.failures import DEFAULT_RETRY, FailureClass, RetryPolicy
from dealflow.ports import AmbiguousOutcome, CallFailed, StaleDeal

__all__ = [
    "EFFECT_CLIENT_CONFIG",
    "DurableSteps",
    "LambdaRunStarter",
    "SesMailer",
    "SnsNotifier",
    "failure_class",
    "is_transient",
    "retry_strategy",
]

T = TypeVar("T")

_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }
)
_SERVER_ERRORS = frozenset({"InternalServerError", "ServiceUnavailable"})
_CONFLICTS = frozenset({"TransactionConflictException"})


def failure_class(error: BaseException) -> FailureClass | None:
    """Which transient failure ``error`` is (``dealflow.model.failures``), or None when it is not
    one: a refusal (unverified sender, missing permission) would only fail again."""
    if isinstance(error, StepInterruptedError):
        return "interrupted"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _THROTTLING:
            return "throttled"
        if code in _CONFLICTS:
            return "conflict"
        return "server_error" if code in _SERVER_ERRORS or status >= 500 else None
    if isinstance(error, StaleDeal):
        return "conflict"
    if isinstance(error, CallFailed):  # another system's answer, classed where it was read
        return error.failure  # type: ignore[return-value]
    if isinstance(error, AmbiguousOutcome):
        # Retried only where the effect's policy freed its key; classed as what it came from.
        cause = error.__cause__
        return (failure_class(cause) if cause is not None else None) or "server_error"
    if isinstance(error, BotoCoreError | ConnectionError | TimeoutError):
        return "timeout"
    return None


def is_transient(error: BaseException) -> bool:
    """Worth retrying: throttling, AWS outages, networks, a deal that kept changing under us."""
    return failure_class(error) not in (None, "interrupted")


# The SES and SNS clients send each request once: botocore's own retries would send a message
# again after a 5xx or a timeout that came after SES had taken it, behind the effect ledger's back.
# Throttling is retried by the step (back-offs in seconds, which a sending rate needs anyway); an
# ambiguous failure is the effect's policy's to decide (``AmbiguousOutcome``).
EFFECT_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1})
# Failures that surely left nothing behind: the request was refused before it left, or no
# connection was made.
_NEVER_SENT = (ParamValidationError, NoCredentialsError, ConnectTimeoutError, EndpointConnectionError)


def _call(service: str, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Make one call; a failure after the request may have been taken is ``AmbiguousOutcome``."""
    try:
        return call()
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status < 500:  # refused or throttled: nothing happened
            raise
        code = exc.response.get("Error", {}).get("Code", "an error")
        raise AmbiguousOutcome(f"{service} answered {status} ({code}) after the request may have been taken") from exc
    except _NEVER_SENT:
        raise
    except BotoCoreError as exc:  # a read timeout, a dropped connection: the request had gone out
        raise AmbiguousOutcome(f"{service} did not answer after the request went out ({exc})") from exc


def _ascii_domain(address: str) -> str:
    """SES wants an internationalised domain in Punycode (its local part must be ASCII anyway)."""
    local, _, domain = address.rpartition("@")
    return address if domain.isascii() else f"{local}@{domain.encode('idna').decode()}"


class SesMailer:
    def __init__(self, client: Any) -> None:
        self._client = client

    def send(
        self,
        *,
        sender: str,
        to: list[str],
        subject: str,
        body: str,
        sender_name: str | None = None,
        reply_to: str | None = None,
    ) -> str:
        # Every e-mail passes here: headers are cleaned once more, whatever the caller did.
        destination = {"ToAddresses": [_ascii_domain(address(a)) for a in to]}
        if too_many_recipients(destination):
            raise ValueError(f"{len(to)} recipients in one message; SES takes at most {MAX_SES_RECIPIENTS_PER_MESSAGE}")
        # The display name is the tenant's; formataddr quotes it and MIME-encodes anything past
        # ASCII, as SES requires of FromEmailAddress. Line breaks would end the header: folded away.
        name = header_text(sender_name) if sender_name else ""
        request: dict[str, Any] = {
            "FromEmailAddress": formataddr((name, address(sender)), charset="utf-8") if name else mailbox(sender),
            "Destination": destination,
            "Content": {
                "Simple": {
                    "Subject": {"Data": header_text(subject), "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
                }
            },
        }
        if reply_to:
            request["ReplyToAddresses"] = [_ascii_domain(address(reply_to))]
        reply = _call("SES", lambda: self._client.send_email(**request))
        return str(reply["MessageId"])


class SnsNotifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def notify(self, *, tenant_id: str, deal_id: str, user_ids: list[str], message: str) -> str:
        # Subscribers filter on these attributes (one user's inbox, one tenant's feed).
        attributes = {
            "tenant_id": {"DataType": "String", "StringValue": header_text(tenant_id)},
            "deal_id": {"DataType": "String", "StringValue": header_text(deal_id)},
            "user_ids": {"DataType": "String.Array", "StringValue": json.dumps([header_text(u) for u in user_ids])},
        }
        fitted = fit_sns_message(message, attributes)
        reply = _call(
            "SNS",
            lambda: self._client.publish(TopicArn=self._topic_arn, Message=fitted, MessageAttributes=attributes),
        )
        return str(reply["MessageId"])


def retry_strategy(policy: RetryPolicy) -> Callable[[Exception, int], RetryDecision]:
    """The durable SDK's retry strategy for ``policy``: its tries and back-off (spread at random
    below each wait, so retries of many runs do not arrive together), on the failures it names.
    When the other side asked for a longer pause (an HTTP ``Retry-After``, bounded where it was
    read), the retry waits that long instead: a durable wait, never a sleep inside the step.

    Retrying includes a step the Lambda invocation was killed in (``interrupted``: timeout, memory,
    crash): its effect may have happened, but every effect is keyed — e-mails and notifications go
    through the effect ledger (done: not again; claimed but unconfirmed: reported, never repeated),
    deal writes are conditional and keyed, records are created once — so running the step again
    finishes it with exactly one effect."""
    backoff = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=policy.attempts,
            initial_delay=Duration.from_seconds(policy.backoff.initial_seconds),
            max_delay=Duration.from_seconds(policy.backoff.max_seconds),
            backoff_rate=policy.backoff.multiplier,
        )
    )

    def decide(error: Exception, attempts: int) -> RetryDecision:
        if not policy.retries(failure_class(error)):
            return RetryDecision.no_retry()
        decision = backoff(error, attempts)
        asked = getattr(error, "retry_after", None)  # the other side's Retry-After, already bounded
        if decision.should_retry and asked is not None and asked > decision.delay_seconds:
            return RetryDecision.retry(Duration.from_seconds(math.ceil(asked)))
        return decision

    return decide


_DEFAULT_STRATEGY = retry_strategy(DEFAULT_RETRY)


class DurableSteps:
    """The ``Durable`` port over a durable execution's context."""

    def __init__(self, context: DurableContext) -> None:
        self._context = context
        self._attempt = 1

    @property
    def execution_id(self) -> str:
        return self._context.state.durable_execution_arn

    @property
    def attempt(self) -> int:
        return self._attempt

    def step(self, name: str, fn: Callable[[], T], *, side_effect: bool = False, retry: RetryPolicy | None = None) -> T:
        # A side effect is not started again within one attempt; a killed attempt comes back as
        # StepInterruptedError, which the retry strategy sends through the effect's key.
        semantics = StepSemantics.AT_MOST_ONCE_PER_RETRY if side_effect else StepSemantics.AT_LEAST_ONCE_PER_RETRY
        strategy = _DEFAULT_STRATEGY if retry is None else retry_strategy(retry)
        config = StepConfig(retry_strategy=strategy, step_semantics=semantics)

        def attempt(step_context: StepContext) -> T:
            self._attempt = step_context.attempt
            try:
                return fn()
            finally:
                self._attempt = 1

        return self._context.step(attempt, name=name, config=config)

    def wait(self, name: str, seconds: int) -> None:
        self._context.wait(Duration.from_seconds(seconds), name=name)

    def callback(self, name: str, timeout_seconds: int) -> DurableCallback:
        config = CallbackConfig(timeout=Duration.from_seconds(timeout_seconds))
        return DurableCallback(self._context.create_callback(name=name, config=config))

    def owns(self, error: Exception) -> bool:
        # Invocation errors (a checkpoint that failed: Lambda retries the invocation) and execution
        # errors (a replay that went astray) end or retry the execution themselves. A step out of
        # retries raises StepError, which is not one of them.
        return isinstance(error, UnrecoverableError)


class DurableCallback:
    """The ``EventCallback`` port over the SDK's callback: its timeout is an outcome, not an error."""

    def __init__(self, callback: Any) -> None:
        self._callback = callback

    @property
    def callback_id(self) -> str:
        return str(self._callback.callback_id)

    def result(self) -> str | None:
        try:
            found = self._callback.result()  # suspends the execution until the callback completes
        except CallbackTimeoutError:
            return None
        return "" if found is None else str(found)
