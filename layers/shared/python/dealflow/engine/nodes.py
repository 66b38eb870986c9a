"""The node tree every kind of automation compiles to, and the one interpreter walks.

A rule (tunnel, trigger) is a one-branch process: an optional delay, a check, its actions. A
business process is a check and then its tree. ``dealflow.engine.compile_run`` builds these trees;
``dealflow.engine.interpreter`` walks them as durable steps.

A node's ``at`` is its name in the run log (unless its author gave it a ``name``); ``at``, ``step``,
``wait``, ``plan``, ``step``, ``failed`` and ``key`` are durable operation names and effect-key
parts relative to the node's place: the walker prefixes the path of the branch or loop turn it is
in (``n1.b0.``, ``n2.i3.``). They are data rather than derived by the walker because rules and
processes named their steps differently before they shared it, and runs in flight replay by those
names (the durable engine matches operations by their order; the effect ledger by key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from dealflow.model.automation import Action
from dealflow.model.automation import Delay as DelaySpec
from dealflow.model.calendar import CalendarOf
from dealflow.model.conditions import Condition

StepKind = Literal["condition", "wait", "action", "check"]


@dataclass(frozen=True, slots=True)
class Check:
    """Read the item as it is now and stop the run when the automation no longer applies to it.

    A check that follows a wait also stops the run when the automation was switched off meanwhile
    or the item was deleted (``cancelled``), when the deal left ``stage`` or ``condition`` no longer
    holds (``skipped``)."""

    kind: ClassVar[StepKind] = "check"
    step: str
    failed: str
    at: str = "check"
    name: str | None = "check"  # whatever its place: the run log calls every check "check"
    only_after_wait: bool = False  # a process's re-check: nothing to re-check when nothing was waited
    stage: tuple[str, str] | None = None  # (pipeline, stage) the deal must still be in after a wait
    condition: Condition | None = (
        None  # must still hold after a wait (a trigger's: on an item other than the changed one)
    )
    trigger_pipeline_id: str | None = None  # a trigger's item must be in the trigger's pipeline
    forgets_waiter: bool = False  # after a wait_for: the run's entry in the registry of waiters goes


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait a fixed time, until a moment relative to a date field of the item, for working time;
    or (``delay`` None, ``hold`` set) until working time opens on the ``hold`` calendar."""

    kind: ClassVar[StepKind] = "wait"
    at: str
    delay: DelaySpec | None
    wait: str
    failed: str
    plan: str | None = None  # the step that works out the wait; None: the run's start step does (a leading delay)
    name: str | None = None
    hold: CalendarOf | None = None  # an action held until working hours: whose


@dataclass(frozen=True, slots=True)
class Act:
    """One action, performed once (its effect key is the run id and ``key``), tried as its
    ``retry`` policy says. When it fails for good and its ``on_error`` is ``continue``, or it has
    a ``fault`` branch, the run records the failure (the durable step ``<at>-error`` when the step
    itself gave up), walks ``fault`` (as ``<key>.f.``), and goes on or ends failed."""

    kind: ClassVar[StepKind] = "action"
    at: str  # also its durable step's name
    action: Action
    key: str
    failed: str
    name: str | None = None
    closes_run: bool = False  # the run has no finish step: this action's step marks it completed
    fault: tuple[Node, ...] = ()

    @property
    def handles_errors(self) -> bool:
        """Whether a failure of this action is the run's to handle rather than its end."""
        return self.action.on_error == "continue" or bool(self.fault)


@dataclass(frozen=True, slots=True)
class Branch:
    name: str
    condition: Condition
    nodes: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Choose:
    """The first branch whose condition holds, else ``otherwise``."""

    kind: ClassVar[StepKind] = "condition"
    at: str
    branches: tuple[Branch, ...]
    otherwise: tuple[Node, ...]
    failed: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Loop:
    """``nodes`` again and again while ``condition`` holds, at most ``max_iterations`` times."""

    kind: ClassVar[StepKind] = "condition"
    at: str
    condition: Condition
    max_iterations: int
    nodes: tuple[Node, ...]
    failed: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SetVariable:
    """A run variable (with ``store``: also the tenant's) set to a literal or to an expression's
    value. An expression is evaluated, and a tenant variable stored, in the durable step ``step``:
    a replay takes the recorded value, so every branch, loop and step name after it is the same."""

    kind: ClassVar[StepKind] = "action"
    at: str
    variable: str
    value: Any
    expression: str | None
    failed: str
    step: str | None = None  # None: a literal process variable, nothing to record
    store: bool = False
    name: str | None = None


@dataclass(frozen=True, slots=True)
class WaitFor:
    """Wait for ``until`` (an event about the item) at most ``timeout_seconds``: a durable callback
    (``callback``), the step that registers the run as its waiter (``register``; it also takes the
    event at once when the item already shows it), then, after the wait, ``check`` (the item
    deleted or the automation switched off meanwhile cancels the run), then ``received`` (walked
    as ``<at>.r.``) or ``timed_out`` (``<at>.t.``)."""

    kind: ClassVar[StepKind] = "wait"
    at: str
    until: Mapping[str, Any]  # the node's ``until``, as JSON
    timeout_seconds: int
    callback: str
    register: str
    check: Check
    received: tuple[Node, ...]
    timed_out: tuple[Node, ...]
    failed: str
    name: str | None = None


Node = Check | Delay | Act | Choose | Loop | SetVariable | WaitFor


@dataclass(frozen=True, slots=True)
class RunPlan:
    """One automation, compiled: its nodes, the step that closes the run (None: its last action
    does), and the variables it starts with besides the tenant's."""

    nodes: tuple[Node, ...]
    finish: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    # The item's fields that branch and loop conditions read between steps: all a run keeps of the
    # item, and all a check or an action step returns of it.
    reads: frozenset[str] = frozenset()

    @property
    def checked_at_start(self) -> Check | None:
        """The run's first node when it is a check no wait comes before: the start step makes it,
        so it is not a durable operation of its own."""
        lead = self.nodes[0] if self.nodes else None
        return lead if isinstance(lead, Check) and not lead.only_after_wait else None
