"""Business processes: a tree of steps an item goes through, started on add, on change or by hand.

Nodes: ``action`` (any action the engine knows), ``condition`` (two or more branches, each with
its own structured condition, plus ``otherwise``), ``loop`` (repeat while a condition holds, never
more than ``max_iterations`` times), ``delay``, ``set_variable``. A running process keeps the
definition it started with, so editing the template never breaks runs in flight.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from dealflow.model.automation import Action, Condition, Delay
from dealflow.model.base import Id, Model
from dealflow.model.bounds import Key, StoredValue
from dealflow.model.enrollment import Enrolled
from dealflow.model.failures import unset
from dealflow.model.tenant import TypedValue
from dealflow.model.texts import Expression

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


Node = Annotated[ActionNode | ConditionNode | LoopNode | DelayNode | SetVariable, Field(discriminator="kind")]
ActionNode.model_rebuild()
Branch.model_rebuild()
ConditionNode.model_rebuild()
LoopNode.model_rebuild()

StartOn = Literal["add", "change", "manual"]


class BusinessProcess(Enrolled):
    kind: Literal["business_process"] = "business_process"
    id: Id
    name: str = Field(min_length=1, max_length=200)
    entity: Literal["deal", "lead"] = "deal"
    start_on: list[StartOn] = Field(min_length=1, description="add, change (or both), manual")
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
