"""What an action does when it fails: how often and on which failures it is tried again
(``retry``), and what the run does once it has given up (``on_error``).

The failure classes are the ones the AWS adapters tell apart (``dealflow.aws.adapters``):
``throttled`` (SES, SNS or DynamoDB asked us to slow down), ``server_error`` (an AWS 5xx),
``timeout`` (a timeout or a dropped connection), ``conflict`` (the deal kept changing under the
write), ``interrupted`` (the Lambda invocation died inside the step). ``any_transient`` is all of
them. Anything else — an unknown user, a template that does not render, SES refusing the sender —
would fail the same way again and is never retried.

Fields left at their defaults are left out of the stored JSON (``exclude_if``): a definition saved
before these fields existed keeps its content digest, so runs in flight still find their version.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from dealflow.model.base import Model
from dealflow.model.calendar import CalendarOf

FailureClass = Literal["throttled", "server_error", "timeout", "conflict", "interrupted"]
FAILURE_CLASSES: tuple[str, ...] = get_args(FailureClass)
RetryOn = Literal["throttled", "server_error", "timeout", "conflict", "interrupted", "any_transient"]
OnError = Literal["stop", "continue"]

MAX_ATTEMPTS = 10


class Backoff(Model):
    """The wait before each retry: ``initial_seconds``, times ``multiplier`` after every attempt,
    never more than ``max_seconds`` (the durable engine spreads each wait at random below it)."""

    initial_seconds: int = Field(default=2, ge=1, le=300)
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    max_seconds: int = Field(default=30, ge=1, le=900)

    @model_validator(mode="after")
    def _ordered(self) -> Backoff:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds: must be at least initial_seconds")
        return self


class RetryPolicy(Model):
    """``{"attempts": 5, "backoff": {"initial_seconds": 5}, "retry_on": ["throttled"]}``. Without
    one an action is tried 4 times on any transient failure, 2 s then 4 s then 8 s apart (at most
    30 s): the engine's policy for every step."""

    attempts: int = Field(default=4, ge=1, le=MAX_ATTEMPTS, description="Tries in all, the first included")
    backoff: Backoff = Field(default_factory=Backoff)
    retry_on: list[RetryOn] = Field(
        default_factory=lambda: list[RetryOn](["any_transient"]),
        min_length=1,
        max_length=len(get_args(RetryOn)),
        description="Which failures are worth another try",
    )

    @model_validator(mode="after")
    def _distinct(self) -> RetryPolicy:
        if len(set(self.retry_on)) != len(self.retry_on):
            raise ValueError("retry_on: name each failure class once")
        return self

    def retries(self, failure: str | None) -> bool:
        """Whether a failure of this class is worth another try (None: not a transient failure)."""
        return failure is not None and ("any_transient" in self.retry_on or failure in self.retry_on)

    def delay(self, attempts_made: int) -> int:
        """Seconds to wait (at most) after attempt ``attempts_made`` failed."""
        base = self.backoff.initial_seconds * self.backoff.multiplier ** (attempts_made - 1)
        return int(min(base, self.backoff.max_seconds))


DEFAULT_RETRY = RetryPolicy()


def unset(value: Any) -> bool:
    """A field at its default, left out of stored JSON (see above)."""
    return value is None or value == "stop" or value == []


# What an ambiguous failure of an effect means (a timeout or a 5xx after the request may have been
# taken): ``retry`` performs it again (at least once: it may be done twice), ``hold`` records it
# "unconfirmed" and fails the run for a person to decide (at most once).
AmbiguousPolicy = Literal["retry", "hold"]
AMBIGUOUS_HELP = (
    "On a timeout or 5xx after the request may have been taken: 'retry' sends again (may duplicate), "
    "'hold' records the message unconfirmed and fails the run for a person to decide (never twice). "
)


class ActionBase(Model):
    """What every action kind carries: its retry policy and what the run does when it fails
    (``dealflow.model.failures``)."""

    retry: RetryPolicy | None = Field(
        default=None, exclude_if=unset, description="Tries, back-off and failures worth retrying (default: 4 tries)"
    )
    on_error: OnError = Field(
        default="stop",
        exclude_if=unset,
        description="stop: the run fails here; continue: the step is recorded failed and the run goes on",
    )
    within_working_hours: CalendarOf | None = Field(
        default=None,
        exclude_if=unset,
        description="Hold the action until working time opens on this calendar: tenant or responsible_user",
    )
