"""Business processes: a tree of steps an item goes through, started on add, on change or by hand.

Nodes: ``action`` (any action the engine knows), ``condition`` (two or more branches, each with
its own structured condition, plus ``otherwise``), ``loop`` (repeat while a condition holds, never
more than ``max_iterations`` times), ``delay``, ``wait_for`` (an event, or a timeout: a branch for
each), ``set_variable``. A running process keeps the
definition it started with, so editing the template never breaks runs in flight.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from dealflow.model.automation import Action, Delay, ExternalEvent
from dealflow.model.base import Id, Model
from dealflow.model.bounds import Key, StoredValue
from dealflow.model.conditions import Condition
from dealflow.model.enrollment import Enrolled
from dealflow.model.failures import unset
from dealflow.model.tenant import TypedValue
from dealflow.model.texts import Expression
from dealflow.model.timing import DateTrigger, Schedule

MAX_LOOP_ITERATIONS = 1000


class ActionNode(Model):
    """One action; ``fault`` is the branch of steps that runs when it fails after its retries
    (they read ``run.error.step`` and ``run.error.reason``). After the fault branch the action's
    ``on_error`` decides: ``stop`` ends the run failed (handled), ``continue`` goes on."""

    kind: Literal["action"] = "action"
    name: str | None = Field(default=None, max_length=200)
    action: Action
    fault: list[Node] = Field(default_factory=list, exclude_if=unset, max_length=50)


class Branch(Model):
    name: str = Field(min_length=1, max_length=200)
    condition: Condition
    nodes: list[Node] = Field(default_factory=list)


class ConditionNode(Model):
    """Runs the first branch whose condition holds, else ``otherwise``."""

    kind: Literal["condition"] = "condition"
    name: str | None = Field(default=None, max_length=200)
    branches: list[Branch] = Field(min_length=1)
    otherwise: list[Node] = Field(default_factory=list)


class LoopNode(Model):
    """Repeats ``nodes`` while ``while`` holds, at most ``max_iterations`` times."""

    kind: Literal["loop"] = "loop"
    name: str | None = Field(default=None, max_length=200)
    while_: Condition = Field(alias="while")
    max_iterations: int = Field(default=10, ge=1, le=MAX_LOOP_ITERATIONS)
    nodes: list[Node] = Field(min_length=1)


class DelayNode(Model):
    kind: Literal["delay"] = "delay"
    name: str | None = Field(default=None, max_length=200)
    delay: Delay


class WebhookEvent(Model):
    """A signed webhook event of this kind about the run's deal (``custom`` names its ``custom_event``)."""

    kind: Literal["webhook"] = "webhook"
    event: ExternalEvent
    custom_event: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _custom(self) -> WebhookEvent:
        if (self.event == "custom") != (self.custom_event is not None):
            raise ValueError("custom_event: required for custom events, and only for them")
        return self


class FieldCondition(Model):
    """The deal's fields reaching ``condition`` (at once, when they already meet it)."""

    kind: Literal["field"] = "field"
    condition: Condition


class StepDone(Model):
    """A step of the deal's sales process marked done (at once, when it already is)."""

    kind: Literal["step_done"] = "step_done"
    step_id: Id


class StageReached(Model):
    """The deal in ``stage_id`` (of ``pipeline_id``, or of the pipeline it is in; at once, when it is there)."""

    kind: Literal["stage_reached"] = "stage_reached"
    stage_id: Id
    pipeline_id: Id | None = None


WaitEvent = Annotated[WebhookEvent | FieldCondition | StepDone | StageReached, Field(discriminator="kind")]


class WaitForNode(Model):
    """Wait until ``until`` happens to the run's deal, at most ``timeout``; then ``received`` (its
    templates read the event as ``run.event``) or ``timed_out``. A durable callback: nothing polls."""

    kind: Literal["wait_for"] = "wait_for"
    name: str | None = Field(default=None, max_length=200)
    until: WaitEvent
    timeout: Delay = Field(description="At most this long (at least a minute, at most 366 days); no date field")
    received: list[Node] = Field(default_factory=list)
    timed_out: list[Node] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fixed_timeout(self) -> WaitForNode:
        if self.timeout.relative_to_field is not None:
            raise ValueError("timeout: a fixed time (days, hours, minutes), not relative to a date field")
        return self


class SetVariable(Model):
    """Set a process variable (or, with ``scope: tenant``, the tenant's variable) to a literal or a
    computed value."""

    kind: Literal["set_variable"] = "set_variable"
    name: str | None = Field(default=None, max_length=200)
    variable: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    value: StoredValue = None
    expression: Expression | None = Field(default=None, max_length=2000)
    scope: Literal["process", "tenant"] = "process"

    @model_validator(mode="after")
    def _one_of(self) -> SetVariable:
        if (self.value is None) == (self.expression is None):
            raise ValueError("give either value or expression")
        return self


Node = Annotated[
    ActionNode | ConditionNode | LoopNode | DelayNode | WaitForNode | SetVariable, Field(discriminator="kind")
]
ActionNode.model_rebuild()
WaitForNode.model_rebuild()
Branch.model_rebuild()
ConditionNode.model_rebuild()
LoopNode.model_rebuild()

StartOn = Literal["add", "change", "manual", "schedule", "date"]
# Starts by the clock, not on a change: each needs its spec (``schedule``, ``on_date``).
TIMED_STARTS = frozenset({"schedule", "date"})


class BusinessProcess(Enrolled):
    kind: Literal["business_process"] = "business_process"
    id: Id
    name: str = Field(min_length=1, max_length=200)
    entity: Literal["deal", "lead"] = "deal"
    start_on: list[StartOn] = Field(
        min_length=1, description="add, change (or both), manual; schedule (with schedule), date (with on_date)"
    )
    pipeline_id: Id | None = Field(default=None, description="Only items of this pipeline (all when absent)")
    parameters: dict[Key, TypedValue] = Field(
        default_factory=dict,
        description="Values given when started by hand, with their types and defaults; seen as var.<name>",
    )
    variables: dict[Key, TypedValue] = Field(default_factory=dict, description="Process variables and defaults")
    nodes: list[Node] = Field(min_length=1)
    enabled: bool = True
    version: int = Field(default=1, ge=1)
    owner_id: Id | None = Field(
        default=None, exclude_if=unset, description="The user who last saved it (set by the API; told of failures)"
    )
    schedule: Schedule | None = Field(
        default=None, exclude_if=unset, description="When start_on has schedule: when, and for which items"
    )
    on_date: DateTrigger | None = Field(
        default=None, exclude_if=unset, description="When start_on has date: the date field and the offset from it"
    )

    @model_validator(mode="after")
    def _timed_starts(self) -> BusinessProcess:
        if ("schedule" in self.start_on) != (self.schedule is not None):
            raise ValueError("schedule: required when start_on has schedule, and only then")
        if ("date" in self.start_on) != (self.on_date is not None):
            raise ValueError("on_date: required when start_on has date, and only then")
        if self.schedule is not None and self.schedule.stage_ids and self.pipeline_id is None:
            raise ValueError("schedule.stage_ids: stages need the process's pipeline_id")
        return self

    @property
    def timed(self) -> bool:
        """Whether the clock starts it (a schedule or a date field), besides or instead of changes."""
        return self.schedule is not None or self.on_date is not None

    # Processes start on events, not stage entries: no entry condition, no delay before the tree.
    @property
    def condition(self) -> None:
        return None

    @property
    def delay(self) -> None:
        return None

    @property
    def effective_actions(self) -> list[Action]:
        return []
