"""Automation as data: delays, actions and stage rules (their conditions: ``dealflow.model.conditions``).

Every text an action renders is a Jinja2 template (``TemplateText``) and every computed value a
Jinja2 expression (``Expression``). The model marks them; they are checked when automation is saved
(``dealflow.authoring.checks``), so a rule that could never render is refused then, not when a deal
reaches its stage.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, field_validator, model_validator

from dealflow.model.base import Id, Model
from dealflow.model.bounds import Key, Text, storable_value
from dealflow.model.calendar import CalendarOf
from dealflow.model.conditions import Condition
from dealflow.model.enrollment import Enrolled
from dealflow.model.failures import AMBIGUOUS_HELP, ActionBase, AmbiguousPolicy, RetryPolicy, unset
from dealflow.model.http_request import HttpRequest
from dealflow.model.texts import Expression, TemplateText


def _zero(value: int) -> bool:
    return value == 0


class Delay(Model):
    """Wait before acting: a fixed time, a time relative to a date field of the deal
    (``{"days": -1, "relative_to_field": "deadline"}`` is one day before the deadline), or working
    time on the tenant's or the responsible user's calendar (``{"working_hours": 2}``,
    ``{"working_days": 1, "calendar": "responsible_user"}``; ``dealflow.engine.working_time``)."""

    days: int = Field(default=0, ge=-3650, le=3650)
    hours: int = Field(default=0, ge=-87600, le=87600)
    minutes: int = Field(default=0, ge=-5_256_000, le=5_256_000)
    relative_to_field: str | None = Field(default=None, max_length=64)
    # Left out of stored JSON at their defaults: a delay saved before they existed keeps its digest.
    working_hours: int = Field(
        default=0, ge=0, le=2000, exclude_if=_zero, description="Working hours to wait, on the calendar"
    )
    working_days: int = Field(
        default=0,
        ge=0,
        le=250,
        exclude_if=_zero,
        description="Working days to wait: the same time that many working days on",
    )
    calendar: CalendarOf | None = Field(
        default=None,
        exclude_if=unset,
        description="Whose working time a working delay counts: tenant (default) or responsible_user",
    )

    @property
    def seconds(self) -> int:
        return ((self.days * 24 + self.hours) * 60 + self.minutes) * 60

    @property
    def in_working_time(self) -> bool:
        return bool(self.working_hours or self.working_days)

    @model_validator(mode="after")
    def _sensible(self) -> Delay:
        if self.in_working_time:
            if self.working_hours and self.working_days:
                raise ValueError("delay: give working_hours or working_days, not both")
            if self.seconds or self.relative_to_field is not None:
                raise ValueError("delay: working time cannot be mixed with days, hours, minutes or relative_to_field")
            return self
        if self.calendar is not None:
            raise ValueError("calendar: only a working-time delay (working_hours, working_days) counts on a calendar")
        # Under a minute is not a delay a person sets, and it keeps rule waits apart from the
        # seconds-long retry back-offs when time is driven by hand in local runs.
        if self.relative_to_field is None and self.seconds < 60:
            raise ValueError("delay: must be at least one minute (or relative to a date field)")
        return self


class Recipients(Model):
    """Who gets a message: the deal's responsible user, chosen users, the deal's contact."""

    responsible: bool = False
    users: list[Id] = Field(default_factory=list)
    contact: bool = False

    @model_validator(mode="after")
    def _someone(self) -> Recipients:
        if not (self.responsible or self.users or self.contact):
            raise ValueError("to: name at least one recipient (responsible, users or contact)")
        return self


class SendEmail(ActionBase):
    kind: Literal["send_email"] = "send_email"
    to: Recipients
    subject: TemplateText = Field(min_length=1, max_length=1000)
    body: TemplateText = Field(min_length=1, max_length=100_000)
    ambiguous: AmbiguousPolicy | None = Field(
        default=None, exclude_if=unset, description=AMBIGUOUS_HELP + "Default: hold"
    )


class Notify(ActionBase):
    kind: Literal["notify"] = "notify"
    to: Recipients
    message: TemplateText = Field(min_length=1, max_length=10_000)
    ambiguous: AmbiguousPolicy | None = Field(
        default=None, exclude_if=unset, description=AMBIGUOUS_HELP + "Default: retry"
    )

    @field_validator("to")
    @classmethod
    def _users_only(cls, to: Recipients) -> Recipients:
        if to.contact:
            raise ValueError("to.contact: notifications go to users, not to the deal's contact")
        return to


class FieldValue(Model):
    """A literal value, or an expression computed from the deal, constants and variables."""

    value: Annotated[Text | Decimal | bool | int | None, AfterValidator(storable_value)] = None
    expression: Expression | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _one_of(self) -> FieldValue:
        if self.expression is not None and self.value is not None:
            raise ValueError("give either value or expression, not both")
        return self


class UpdateFields(ActionBase):
    kind: Literal["update_fields"] = "update_fields"
    values: dict[Key, FieldValue] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _writable(cls, values: dict[str, FieldValue]) -> dict[str, FieldValue]:
        frozen = {
            "id",
            "tenant_id",
            "pipeline_id",
            "stage_id",
            "version",
            "created_at",
            "updated_at",
            "entity",
            "lead_id",
            "copied_from_id",
            "copy_ids",
        }
        bad = sorted(set(values) & frozen)
        if bad:
            raise ValueError(f"values: {', '.join(bad)} cannot be set here (use move_to_stage for stages)")
        return values


class MoveToStage(ActionBase):
    kind: Literal["move_to_stage"] = "move_to_stage"
    stage_id: Id
    forward_only: bool = Field(default=False, description="Leave a deal that is already at or past the stage")


class CopyToPipeline(ActionBase):
    """Copy the deal into another pipeline's stage; the original stays, both know each other."""

    kind: Literal["copy_to_pipeline"] = "copy_to_pipeline"
    pipeline_id: Id
    stage_id: Id


class MoveToPipeline(ActionBase):
    """Move the deal (same id, same history) into another pipeline's stage."""

    kind: Literal["move_to_pipeline"] = "move_to_pipeline"
    pipeline_id: Id
    stage_id: Id


class CreateTask(ActionBase):
    kind: Literal["create_task"] = "create_task"
    title: TemplateText = Field(min_length=1, max_length=500)
    description: TemplateText = Field(default="", max_length=10_000)
    assignee_id: Id | None = Field(default=None, description="Defaults to the deal's responsible user")
    due_in_days: int | None = Field(default=None, ge=0, le=3650)


class CreateWorkgroup(ActionBase):
    kind: Literal["create_workgroup"] = "create_workgroup"
    name: TemplateText = Field(min_length=1, max_length=500)
    owner_id: Id | None = Field(default=None, description="Defaults to the deal's responsible user")
    members: list[Id] = Field(default_factory=list)


AssignStrategy = Literal["round_robin", "least_loaded"]


class Assign(ActionBase):
    """Make one of ``users`` (or of the users with ``role``) the deal's responsible user: in turn
    (``round_robin``, a counter per pool shared by every run) or whoever has the fewest open deals
    (``least_loaded``, ties taken in turn); with ``skip_unavailable``, passing over users out of
    office or outside their working hours."""

    kind: Literal["assign"] = "assign"
    users: list[Id] = Field(default_factory=list, max_length=100, description="The users to choose among")
    role: Id | None = Field(default=None, description="Or: every user with this role (admin, sales_manager, sales_rep)")
    strategy: AssignStrategy = "round_robin"
    skip_unavailable: bool = Field(
        default=False, description="Pass over users out of office or outside their working hours"
    )
    pool: Id | None = Field(
        default=None,
        description="Names the turn counter; actions with the same pool take turns together. "
        "Default: one counter per set of users (or role)",
    )

    @model_validator(mode="after")
    def _someone(self) -> Assign:
        if bool(self.users) == (self.role is not None):
            raise ValueError("users: name the users to choose among, or a role, not both")
        if len(set(self.users)) != len(self.users):
            raise ValueError("users: each user once")
        return self

    @property
    def pool_key(self) -> str:
        """The turn counter's name: the pool, else the users (sorted) or the role."""
        if self.pool is not None:
            return f"pool:{self.pool}"
        if self.role is not None:
            return f"role:{self.role}"
        users = ",".join(sorted(self.users))
        # A sort key holds at most 1,024 bytes; a hundred ids may not fit, their digest does.
        return "users:" + (users if len(users) <= 200 else hashlib.sha256(users.encode()).hexdigest()[:32])


# Each effect kind's answer to an ambiguous failure (README, "Ambiguous outcomes"). An e-mail goes to
# people outside the company and cannot be taken back: held. A notification reaches the tenant's own
# users, for whom a second one costs little and a missing one defeats it: retried. Deal writes,
# tasks and workgroups are keyed by their effect and conditional, so retrying them is exact: they
# take no override.
AMBIGUOUS_DEFAULTS: dict[str, AmbiguousPolicy] = {
    "send_email": "hold",
    "notify": "retry",
    "update_fields": "retry",
    "move_to_stage": "retry",
    "move_to_pipeline": "retry",
    "copy_to_pipeline": "retry",
    "create_task": "retry",
    "create_workgroup": "retry",
    # A failure notice goes to the automation's owner or the administrators: like a notification.
    "notify_on_failure": "retry",
    # A receiver drops a repeat by its Idempotency-Key (the same on every try of the step), and a
    # call that never arrived is usually worse than one that arrived twice.
    "http_request": "retry",
    # The deal write is keyed by its effect and the turn taken once per effect: exact on retry.
    "assign": "retry",
}


FailureAudience = Literal["owner", "administrators"]
FailureChannel = Literal["email", "notification"]


class NotifyOnFailure(ActionBase):
    """Tell people a run failed: the automation's owner (who last saved it) or the tenant's
    administrators, by e-mail and/or notification, with the failure's step and reason and a link
    to the run. Typically in a fault branch or after an action that may ``continue``; with no
    failure to report it sends nothing."""

    kind: Literal["notify_on_failure"] = "notify_on_failure"
    audience: list[FailureAudience] = Field(
        default_factory=lambda: list[FailureAudience](["owner"]), min_length=1, max_length=2
    )
    channels: list[FailureChannel] = Field(
        default_factory=lambda: list[FailureChannel](["email"]), min_length=1, max_length=2
    )
    message: TemplateText = Field(default="", max_length=10_000, description="Added to the standard text")


Action = Annotated[
    SendEmail
    | Notify
    | UpdateFields
    | MoveToStage
    | CopyToPipeline
    | MoveToPipeline
    | CreateTask
    | CreateWorkgroup
    | NotifyOnFailure
    | HttpRequest
    | Assign,
    Field(discriminator="kind"),
]


class StageAutomation(Enrolled):
    """What rules, tunnels and triggers share: a name, a (pipeline, stage), a condition, a switch."""

    id: Id
    name: str = Field(min_length=1, max_length=200)
    pipeline_id: Id
    stage_id: Id
    enabled: bool = True
    condition: Condition | None = None
    version: int = Field(default=1, ge=1)
    owner_id: Id | None = Field(
        default=None, exclude_if=unset, description="The user who last saved it (set by the API; told of failures)"
    )


class Rule(StageAutomation):
    """A stage rule: runs when a deal enters (pipeline, stage) and its condition holds."""

    kind: Literal["rule"] = "rule"
    delay: Delay | None = None
    actions: list[Action] = Field(min_length=1, max_length=50)

    @property
    def effective_actions(self) -> list[Action]:
        return list(self.actions)

    @model_validator(mode="after")
    def _goal_waits(self) -> Rule:
        self._goal_needs_a_wait(self.delay is not None)
        return self


class Tunnel(StageAutomation):
    """A sales tunnel: when a deal enters (pipeline_id, stage_id), copy or move it into
    (target_pipeline_id, target_stage_id). A rule whose one action is the copy or the move."""

    kind: Literal["tunnel"] = "tunnel"
    target_pipeline_id: Id
    target_stage_id: Id
    mode: Literal["copy", "move"]
    delay: Delay | None = None
    retry: RetryPolicy | None = Field(default=None, exclude_if=unset, description="The copy's or move's retry policy")

    @model_validator(mode="after")
    def _elsewhere(self) -> Tunnel:
        if self.target_pipeline_id == self.pipeline_id:
            raise ValueError("target_pipeline_id: a tunnel leads to another pipeline (use a rule to move within one)")
        self._goal_needs_a_wait(self.delay is not None)
        return self

    @property
    def effective_actions(self) -> list[Action]:
        kind = CopyToPipeline if self.mode == "copy" else MoveToPipeline
        return [kind(pipeline_id=self.target_pipeline_id, stage_id=self.target_stage_id, retry=self.retry)]


# Outside events arrive through the webhook receiver; internal ones come from deal changes.
ExternalEvent = Literal["email_link_clicked", "incoming_call", "invoice_paid", "web_form_submitted", "custom"]
InternalEvent = Literal["field_changed", "linked_deal_won", "linked_deal_lost"]
EventKind = Literal[ExternalEvent, InternalEvent]
EXTERNAL_EVENTS: tuple[str, ...] = get_args(ExternalEvent)
INTERNAL_EVENTS: tuple[str, ...] = get_args(InternalEvent)


class Trigger(StageAutomation):
    """When ``event`` happens to an item of ``pipeline_id``, move it to ``stage_id``: forward only,
    unless ``allow_backwards``. External events arrive through the webhook receiver; internal ones
    come from changes (a field changed; a lead's linked deal was won or lost)."""

    kind: Literal["trigger"] = "trigger"
    event: EventKind
    field: str | None = Field(default=None, max_length=64, description="The watched field (field_changed)")
    custom_event: str | None = Field(default=None, max_length=64, description="The event's name (custom)")
    allow_backwards: bool = False
    retry: RetryPolicy | None = Field(default=None, exclude_if=unset, description="The stage move's retry policy")

    @model_validator(mode="after")
    def _event_details(self) -> Trigger:
        if (self.event == "field_changed") != (self.field is not None):
            raise ValueError("field: required for field_changed triggers, and only for them")
        if (self.event == "custom") != (self.custom_event is not None):
            raise ValueError("custom_event: required for custom triggers, and only for them")
        self._goal_needs_a_wait(False)  # a trigger's run is one stage move
        return self

    @property
    def delay(self) -> None:
        return None

    @property
    def effective_actions(self) -> list[Action]:
        return [MoveToStage(stage_id=self.stage_id, forward_only=not self.allow_backwards, retry=self.retry)]
