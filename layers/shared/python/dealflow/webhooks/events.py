"""The body of a webhook request: one outside event about one deal or lead."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field, ValidationError, ValidationInfo, field_validator

from dealflow.http_errors import Invalid, problems_from, read_json
from dealflow.model.automation import ExternalEvent
from dealflow.model.base import Id, Model

MAX_BODY_BYTES = 64 * 1024


class WebhookEvent(Model):
    """The JSON body of a webhook request."""

    id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="The sender's unique id of this event (printable ASCII, no spaces); a second "
        "request with the same id is refused as a replay",
    )
    kind: ExternalEvent
    deal_id: Id = Field(description="The deal (or lead) the event is about")
    custom_event: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        validate_default=True,
        description="The custom event's name: required when kind is custom, and only then",
    )
    occurred_at: AwareDatetime | None = Field(default=None, description="When it happened (ISO 8601 with offset)")
    data: dict[str, Any] = Field(default_factory=dict, description="Anything else the sender wants on record")

    @field_validator("custom_event")
    @classmethod
    def _custom_needs_a_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "custom" and value is None:
            raise ValueError("required when kind is 'custom'")
        if kind is not None and kind != "custom" and value is not None:
            raise ValueError(f"only allowed when kind is 'custom' (kind is '{kind}')")
        return value


class WebhookAccepted(Model):
    event_id: str
    accepted: Literal[True] = True
    runs: list[str] = Field(description="The runs this event started (run ids; empty if no trigger applies)")
    not_started: list[dict[str, str]] = Field(
        default_factory=list, description="Triggers of the event whose condition did not hold"
    )
    resumed: list[str] = Field(
        default_factory=list,
        description="Runs that were waiting for this event (a wait_for node) and go on now (run ids)",
    )


def parse_event(body: bytes) -> WebhookEvent:
    """The request body as a ``WebhookEvent``; ``BadRequest`` when it is not JSON or nests too deeply,
    ``Invalid`` when it is JSON but not an event (a number or text no field could hold included)."""
    payload = read_json(body)
    try:
        return WebhookEvent.model_validate(payload)
    except ValidationError as exc:
        raise Invalid(problems_from(exc)) from None
