"""Whether a run of an automation fits in one durable execution, worked out when it is saved.

A run is one Lambda durable execution, and AWS caps one: at most 3,000 durable operations, at most
366 days per wait, and the runner's ExecutionTimeout for the whole run (``dealflow.limits``). Past
them the execution fails on AWS (the local runner would let it finish), so saving refuses them
with the figures and what to change.

The count is taken on the node tree the interpreter walks (``dealflow.engine.compile_run``), at
one attempt per step, on the most expensive path: every branch its dearest, every loop all its
``max_iterations`` turns. Per run: the execution itself, the ``start`` step, ``finish`` (a
business process), and one ``failed`` step a failure may add. Per node: a check, an action and a
tenant-scoped ``set_variable`` are one step; a delay is its wait, plus its plan step and the
re-check after it in a process (a rule's delay is planned by ``start``, and a run's first check
is made by ``start`` when no wait comes before it); a condition, a loop's
test and a process-scoped variable are decided between steps and cost nothing. A step's transient
retries count again on AWS: an action with its own ``retry`` policy counts every try it may take
(and its back-off waits); the default policy's retries are left as headroom. An action whose failure
the run handles (``on_error: continue``, a fault branch) adds the step recording the failure and its
fault branch, at its dearest. A ``wait_for`` is its callback, the step that registers it and the
re-check after it, waits its whole timeout, and then costs its dearer branch. Waits count their
fixed time; a
delay relative to a date field is known only when the run works it out (``dealflow.engine.delays``
fails a run whose computed wait passes the cap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dealflow.engine.compile_run import compile_run
from dealflow.engine.nodes import Act, Check, Choose, Delay, Loop, Node, SetVariable, WaitFor
from dealflow.limits import MAX_OPERATIONS_PER_EXECUTION, MAX_TOTAL_WAIT_SECONDS, MAX_WAIT_SECONDS
from dealflow.model import process as model
from dealflow.model.automation import Delay as DelaySpec
from dealflow.model.catalog import Automation
from dealflow.model.process import BusinessProcess

_DAY = 86_400
_PER_RUN = 3  # the execution, its start step, and the step a failure writes


@dataclass(frozen=True)
class Cost:
    """Durable operations and seconds of fixed waiting, worst case."""

    operations: int = 0
    wait_seconds: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.operations + other.operations, self.wait_seconds + other.wait_seconds)

    def __mul__(self, times: int) -> Cost:
        return Cost(self.operations * times, self.wait_seconds * times)


@dataclass(frozen=True)
class LoopCost:
    """One loop's share of a run: ``turn`` is one turn of its body, ``scale`` the turns of the
    loops around it (1 at the top)."""

    label: str
    field: str
    max_iterations: int
    turn: Cost
    scale: int

    def share(self) -> Cost:
        return self.turn * (self.max_iterations * self.scale)


@dataclass(frozen=True)
class Budget:
    """A run's worst case, and each loop's part in it."""

    cost: Cost
    loops: list[LoopCost] = field(default_factory=list)


def budget_of(automation: Automation) -> Budget:
    """The worst-case durable operations and fixed waiting of one run of ``automation``."""
    plan = compile_run(automation)
    loops: list[LoopCost] = []
    tree = _walk(plan.nodes, "nodes", 1, loops)
    made_at_start = Cost(-1) if plan.checked_at_start is not None else Cost()  # inside the start step
    return Budget(tree + made_at_start + Cost(_PER_RUN + (plan.finish is not None)), loops)


def budget_problems(automation: Automation) -> list[dict[str, str]]:
    """Each way a run of ``automation`` would pass the platform's limits, as a field and a reason."""
    long_delays = _long_delays(automation)
    problems = list(long_delays)
    budget = budget_of(automation)
    what = f"this {automation.kind.replace('_', ' ')}"
    process = isinstance(automation, BusinessProcess)
    operations = budget.cost.operations
    if operations > MAX_OPERATIONS_PER_EXECUTION:
        at, advice = _advice(
            budget,
            "operations",
            MAX_OPERATIONS_PER_EXECUTION,
            "nodes" if process else "actions",
            "take steps out of it",
        )
        problems.append(
            {
                "field": at,
                "problem": f"{what} may take {operations:,} durable operations; a run may take at most "
                f"{MAX_OPERATIONS_PER_EXECUTION:,} (AWS Lambda's limit per durable execution): {advice}",
            }
        )
    waited = budget.cost.wait_seconds
    if waited > MAX_TOTAL_WAIT_SECONDS and not long_delays:  # a delay too long already says what to shorten
        at, advice = _advice(
            budget, "wait_seconds", MAX_TOTAL_WAIT_SECONDS, "nodes" if process else "delay", "shorten its delays"
        )
        problems.append(
            {
                "field": at,
                "problem": f"{what} may wait {_days(waited)} in all; a run may wait at most "
                f"{_days(MAX_TOTAL_WAIT_SECONDS)} (the runner's execution timeout, less a day for its steps): "
                f"{advice}",
            }
        )
    return problems


def _walk(nodes: tuple[Node, ...], at: str, scale: int, loops: list[LoopCost]) -> Cost:
    """The cost of ``nodes``; ``at`` is where they sit in the automation as written (a process's
    nodes are named ``n<position>`` in their list)."""
    cost = Cost()
    for node in nodes:
        match node:
            case Act():
                cost += _action(node, at, scale, loops)
            case Check():
                cost += Cost(1)
            case SetVariable():
                cost += Cost(1 if node.step is not None else 0)
            case Delay():
                cost += Cost(2 if node.plan is not None else 1, _fixed_wait(node.delay))
            case Choose():
                here = _field(at, node.at)
                ways = [_walk(b.nodes, f"{here}.branches.{i}.nodes", scale, loops) for i, b in enumerate(node.branches)]
                ways.append(_walk(node.otherwise, f"{here}.otherwise", scale, loops))
                cost += Cost(max(w.operations for w in ways), max(w.wait_seconds for w in ways))
            case WaitFor():
                here = _field(at, node.at)
                ways = [
                    _walk(node.received, f"{here}.received", scale, loops),
                    _walk(node.timed_out, f"{here}.timed_out", scale, loops),
                ]
                cost += Cost(3, node.timeout_seconds)
                cost += Cost(max(w.operations for w in ways), max(w.wait_seconds for w in ways))
            case Loop():
                here, outer_first = _field(at, node.at), len(loops)  # on a tie the advice names the outer loop
                turn = _walk(node.nodes, f"{here}.nodes", scale * node.max_iterations, loops)
                loops.insert(outer_first, LoopCost(node.name or node.at, here, node.max_iterations, turn, scale))
                cost += turn * node.max_iterations
    return cost


def _action(node: Act, at: str, scale: int, loops: list[LoopCost]) -> Cost:
    """An action's step at its retry policy's worst case (every try an operation, every back-off a
    wait); when the run handles its failure, the step that records it and its fault branch."""
    retry = node.action.retry
    cost = Cost(1) if retry is None else Cost(retry.attempts, sum(retry.delay(n) for n in range(1, retry.attempts)))
    if node.handles_errors:
        cost += Cost(1) + _walk(node.fault, f"{_field(at, node.key)}.fault", scale, loops)
    return cost


def _field(at: str, position: str) -> str:
    return f"{at}.{position.removeprefix('n')}"


def _fixed_wait(delay: DelaySpec | None) -> int:
    """A delay's fixed part: none for a hold, a date-relative or a working-time delay (known only
    when the run works it out; the 366-day cap then fails the run with the reason)."""
    return delay.seconds if delay is not None and delay.relative_to_field is None else 0


def _advice(budget: Budget, measure: str, limit: int, fallback: str, otherwise: str) -> tuple[str, str]:
    """The field to change and how: the loop with the largest share, lowered to what fits."""
    shares = [(getattr(loop.share(), measure), loop) for loop in budget.loops if getattr(loop.turn, measure)]
    if not shares:
        return fallback, otherwise
    share, loop = max(shares, key=lambda found: found[0])
    rest = getattr(budget.cost, measure) - share
    per_iteration = getattr(loop.turn, measure) * loop.scale
    fits = (limit - rest) // per_iteration
    if fits < 1:
        return f"{loop.field}.nodes", f"take steps out of loop '{loop.label}'"
    return f"{loop.field}.max_iterations", f"lower loop '{loop.label}' max_iterations to {fits:,} or fewer"


def _long_delays(automation: Automation) -> list[dict[str, str]]:
    """Each delay whose fixed part is longer than one durable wait may last."""
    found: list[tuple[str, DelaySpec]] = []
    if isinstance(automation, BusinessProcess):
        _delays_in(automation.nodes, "nodes", found)
    elif automation.delay is not None:
        found.append(("delay", automation.delay))
    limit = f"at most {MAX_WAIT_SECONDS // _DAY} days ({MAX_WAIT_SECONDS:,} s, the longest durable wait)"
    problems = []
    for at, delay in found:
        if delay.seconds <= MAX_WAIT_SECONDS:
            continue
        if delay.relative_to_field is None:
            what = "a timeout" if at.endswith(".timeout") else "a delay"
            problem = f"{what} of {_days(delay.seconds)} is longer than a run can wait: {limit}"
        else:
            problem = (
                f"{_days(delay.seconds)} after '{delay.relative_to_field}' is further than a run can wait: {limit}"
            )
        problems.append({"field": at, "problem": problem})
    return problems


def _delays_in(nodes: list[model.Node], at: str, found: list[tuple[str, DelaySpec]]) -> None:
    for position, node in enumerate(nodes):
        here = f"{at}.{position}"
        if isinstance(node, model.DelayNode):
            found.append((f"{here}.delay", node.delay))
        elif isinstance(node, model.ConditionNode):
            for index, branch in enumerate(node.branches):
                _delays_in(branch.nodes, f"{here}.branches.{index}.nodes", found)
            _delays_in(node.otherwise, f"{here}.otherwise", found)
        elif isinstance(node, model.LoopNode):
            _delays_in(node.nodes, f"{here}.nodes", found)
        elif isinstance(node, model.ActionNode):
            _delays_in(node.fault, f"{here}.fault", found)
        elif isinstance(node, model.WaitForNode):
            found.append((f"{here}.timeout", node.timeout))
            _delays_in(node.received, f"{here}.received", found)
            _delays_in(node.timed_out, f"{here}.timed_out", found)


def _days(seconds: int) -> str:
    days = seconds / _DAY
    shown = f"{days:,.0f}" if days == int(days) else f"{days:,.1f}"
    return f"{shown} day" + ("" if days == 1 else "s")
